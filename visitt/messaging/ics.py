"""The calendar file sent with an e-mail invitation (iCalendar, RFC 5545; iTIP, RFC 5546), written by ``icalendar``.

Only what an invitation needs: one VEVENT in a VCALENDAR with a METHOD. ``REQUEST`` invites and, sent
again with the same UID and a higher SEQUENCE, moves the event; ``CANCEL`` removes it. The library
escapes text values, quotes parameter values and folds lines at 75 octets with CRLF line ends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from icalendar import Calendar, vCalAddress
from icalendar import Event as VEvent

PRODID = "-//Visitt//Visitt video consultations//EN"
METHODS = ("REQUEST", "CANCEL")


def utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC, written ``20261201T083000Z``: no VTIMEZONE needed for the patient's calendar."""
    if value.tzinfo is None:
        raise ValueError("a calendar time needs a time zone")
    return value.astimezone(dt.timezone.utc)


def _display_name(value: str) -> str:
    # A CN is one line of text: a line break or other control character in the clinic's name becomes a space.
    return "".join(" " if ord(char) < 0x20 or ord(char) == 0x7F else char for char in value).strip()


@dataclass(frozen=True)
class Event:
    """One appointment as the patient's calendar sees it. Nothing here may be health data."""

    uid: str
    sequence: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    summary: str
    description: str
    stamp: dt.datetime
    url: str = ""
    organizer: str = ""  # an e-mail address
    organizer_name: str = ""
    attendee: str = ""  # an e-mail address

    def __post_init__(self) -> None:
        if self.ends_at <= self.starts_at:
            raise ValueError("an event must end after it starts")
        if self.sequence < 0:
            raise ValueError("SEQUENCE cannot be negative")


def calendar(event: Event, method: str = "REQUEST") -> str:
    """The whole ``.ics`` text for ``event``: ``REQUEST`` invites or updates, ``CANCEL`` withdraws it."""
    if method not in METHODS:
        raise ValueError(f"unsupported METHOD {method!r}")
    vevent = VEvent()
    vevent.add("uid", event.uid)
    vevent.add("sequence", event.sequence)
    vevent.add("dtstamp", utc(event.stamp))
    vevent.add("dtstart", utc(event.starts_at))
    vevent.add("dtend", utc(event.ends_at))
    vevent.add("summary", event.summary)
    vevent.add("description", event.description)
    if event.url:
        vevent.add("location", event.url)
        vevent.add("url", event.url)
    if event.organizer:
        organizer = vCalAddress(f"mailto:{event.organizer}")
        if name := _display_name(event.organizer_name):
            organizer.params["CN"] = name
        vevent.add("organizer", organizer)
    if event.attendee:
        attendee = vCalAddress(f"mailto:{event.attendee}")
        attendee.params.update({"ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION", "RSVP": "FALSE"})
        vevent.add("attendee", attendee)
    vevent.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    vevent.add("transp", "OPAQUE")

    ical = Calendar()
    ical.add("prodid", PRODID)
    ical.add("version", "2.0")
    ical.add("calscale", "GREGORIAN")
    ical.add("method", method)
    ical.add_component(vevent)
    text: str = ical.to_ical().decode()
    return text
