"""The calendar file, read back with ``icalendar``'s parser as a patient's calendar would read it: the
event's times, text and link, hostile text kept as text, and the iTIP method for an invitation and a
cancellation."""

from __future__ import annotations

import datetime as dt

import pytest
from icalendar import Calendar
from icalendar import Component

from visitt.messaging import ics

UTC = dt.timezone.utc
OSLO = dt.timezone(dt.timedelta(hours=1))


def _event(**changes: object) -> ics.Event:
    values: dict[str, object] = dict(
        uid="0123456789abcdef0123456789abcdef@visitt", sequence=0,
        starts_at=dt.datetime(2026, 12, 1, 9, 30, tzinfo=OSLO), ends_at=dt.datetime(2026, 12, 1, 10, 0, tzinfo=OSLO),
        summary="Video consultation – Sykehuset Østfold", description="Open the link: https://v.example/v/abc",
        stamp=dt.datetime(2026, 11, 2, 12, 0, tzinfo=UTC), url="https://v.example/v/abc",
        organizer="video@sykehuset.example", organizer_name="Sykehuset Østfold", attendee="pasient@example.no")
    values.update(changes)
    return ics.Event(**values)  # type: ignore[arg-type]


def _read(text: str) -> tuple[Calendar, Component]:
    """The calendar and its one event, parsed."""
    calendar = Calendar.from_ical(text)
    (event,) = calendar.walk("VEVENT")
    return calendar, event


def test_an_invitation_reads_back_with_its_times_text_and_link() -> None:
    text = ics.calendar(_event(), "REQUEST")
    calendar, event = _read(text)
    assert (str(calendar["METHOD"]), str(calendar["VERSION"]), str(calendar["PRODID"])) == \
        ("REQUEST", "2.0", ics.PRODID)
    assert str(event["UID"]) == "0123456789abcdef0123456789abcdef@visitt"
    assert event.decoded("SEQUENCE") == 0
    assert event.decoded("DTSTART") == dt.datetime(2026, 12, 1, 8, 30, tzinfo=UTC)  # 09:30 in Oslo
    assert event.decoded("DTEND") == dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert event.decoded("DTSTAMP") == dt.datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    assert "DTSTART:20261201T083000Z" in text  # written in UTC: the calendar needs no time zone definition
    assert str(event["SUMMARY"]) == "Video consultation – Sykehuset Østfold"
    assert str(event["DESCRIPTION"]) == "Open the link: https://v.example/v/abc"
    assert str(event["LOCATION"]) == "https://v.example/v/abc" and str(event["URL"]) == "https://v.example/v/abc"
    assert str(event["ORGANIZER"]) == "mailto:video@sykehuset.example"
    assert event["ORGANIZER"].params["CN"] == "Sykehuset Østfold"
    assert str(event["ATTENDEE"]) == "mailto:pasient@example.no"
    assert str(event["STATUS"]) == "CONFIRMED"


def test_a_cancellation_reads_back_as_one() -> None:
    calendar, event = _read(ics.calendar(_event(sequence=2), "CANCEL"))
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED" and event.decoded("SEQUENCE") == 2


def test_hostile_text_stays_text() -> None:
    hostile = "Hei, Kari; se C:\\mappe\nNy linje\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:injected"
    text = ics.calendar(_event(summary=hostile, description=hostile,
                               organizer_name="Klinikk Nord, avd. 2;\r\nATTENDEE:mailto:x@example.no"))
    calendar, event = _read(text)  # still exactly one event
    assert len(calendar.walk("VEVENT")) == 1
    expected = hostile.replace("\r\n", "\n")  # a line break is a line break, however it was typed
    assert str(event["SUMMARY"]) == expected and str(event["DESCRIPTION"]) == expected
    assert str(event["ATTENDEE"]) == "mailto:pasient@example.no"  # the only attendee (several would be a list)
    assert event["ORGANIZER"].params["CN"] == "Klinikk Nord, avd. 2;  ATTENDEE:mailto:x@example.no"
    assert str(event["ORGANIZER"]) == "mailto:video@sykehuset.example"


def test_long_text_comes_back_whole_from_lines_of_at_most_75_octets() -> None:
    description = ("Open this link shortly before the appointment: https://video.sykehuset.example/v/"
                   "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4\n\nQuestions, or cannot attend? "
                   "Call +47 22 11 80 80. " + "Blåbærsyltetøy på brødskiva " * 12)
    text = ics.calendar(_event(description=description))
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert str(_read(text)[1]["DESCRIPTION"]) == description


def test_invalid_events_are_refused() -> None:
    with pytest.raises(ValueError, match="end after"):
        _event(ends_at=dt.datetime(2026, 12, 1, 9, 0, tzinfo=OSLO))
    with pytest.raises(ValueError, match="time zone"):
        ics.calendar(_event(starts_at=dt.datetime(2026, 12, 1, 9, 30), ends_at=dt.datetime(2026, 12, 1, 10, 0)))
    with pytest.raises(ValueError, match="METHOD"):
        ics.calendar(_event(), "PUBLISH")
