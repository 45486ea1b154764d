"""The calendar file's text: RFC 5545 escaping, folding at 75 octets, CRLF, and the iTIP methods."""

from __future__ import annotations

import datetime as dt

import pytest

from visitt import ics

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


def _unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")[:-1]


def test_text_is_escaped() -> None:
    assert ics.escape_text("Hei, Kari; se C:\\mappe\nNy linje\r\nOg en til") == \
        "Hei\\, Kari\\; se C:\\\\mappe\\nNy linje\\nOg en til"


def test_parameter_values_are_quoted_when_they_must_be() -> None:
    assert ics.param_value("Sykehuset Østfold") == "Sykehuset Østfold"
    assert ics.param_value('Klinikk "Nord", avd. 2') == '"Klinikk Nord, avd. 2"'


def test_long_lines_fold_at_75_octets_without_splitting_a_character() -> None:
    line = "DESCRIPTION:" + "Blåbærsyltetøy på brødskiva " * 12
    folded = ics.fold(line)
    pieces = folded.split("\r\n")
    assert len(pieces) > 3
    assert all(len(piece.encode()) <= 75 for piece in pieces)
    assert all(piece.startswith(" ") for piece in pieces[1:])
    assert folded.replace("\r\n ", "") == line  # each piece is whole UTF-8: nothing was cut in two
    assert ics.fold("SUMMARY:short") == "SUMMARY:short"


def test_a_fold_falls_before_a_two_octet_character_that_would_cross_the_limit() -> None:
    line = "X" * 74 + "ø" + "Y"  # "ø" would take octets 75 and 76
    first, second = ics.fold(line).split("\r\n")
    assert first == "X" * 74 and second == " øY"


def test_request_calendar() -> None:
    text = ics.calendar(_event(), "REQUEST")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = _unfold(text)
    assert lines[:5] == ["BEGIN:VCALENDAR", f"PRODID:{ics.PRODID}", "VERSION:2.0", "CALSCALE:GREGORIAN",
                         "METHOD:REQUEST"]
    assert "UID:0123456789abcdef0123456789abcdef@visitt" in lines
    assert "SEQUENCE:0" in lines
    assert "DTSTART:20261201T083000Z" in lines and "DTEND:20261201T090000Z" in lines  # in UTC
    assert "DTSTAMP:20261102T120000Z" in lines
    assert "SUMMARY:Video consultation – Sykehuset Østfold" in lines
    assert "DESCRIPTION:Open the link: https://v.example/v/abc" in lines
    assert "URL:https://v.example/v/abc" in lines
    assert "ORGANIZER;CN=Sykehuset Østfold:mailto:video@sykehuset.example" in lines
    assert "STATUS:CONFIRMED" in lines and lines[-2:] == ["END:VEVENT", "END:VCALENDAR"]
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))


def test_cancel_calendar() -> None:
    lines = _unfold(ics.calendar(_event(sequence=2), "CANCEL"))
    assert "METHOD:CANCEL" in lines and "STATUS:CANCELLED" in lines and "SEQUENCE:2" in lines


def test_a_long_description_with_a_link_survives_folding() -> None:
    description = ("Open this link shortly before the appointment: https://video.sykehuset.example/v/"
                   "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4\n\nQuestions, or cannot attend? Call +47 22 11 80 80.")
    text = ics.calendar(_event(description=description))
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert f"DESCRIPTION:{ics.escape_text(description)}" in _unfold(text)


def test_invalid_events_are_refused() -> None:
    with pytest.raises(ValueError, match="end after"):
        _event(ends_at=dt.datetime(2026, 12, 1, 9, 0, tzinfo=OSLO))
    with pytest.raises(ValueError, match="time zone"):
        ics.calendar(_event(starts_at=dt.datetime(2026, 12, 1, 9, 30), ends_at=dt.datetime(2026, 12, 1, 10, 0)))
    with pytest.raises(ValueError, match="METHOD"):
        ics.calendar(_event(), "PUBLISH")
