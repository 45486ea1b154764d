"""iCalendar (RFC 5545) text for the calendar file sent with an e-mail invitation (iTIP, RFC 5546).

Only what an invitation needs: one VEVENT in a VCALENDAR with a METHOD. ``REQUEST`` invites and, sent
again with the same UID and a higher SEQUENCE, moves the event; ``CANCEL`` removes it. Text values are
escaped, lines are folded at 75 octets and end in CRLF, as the RFC requires.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

PRODID = "-//Visitt//Visitt video consultations//EN"
LINE_OCTETS = 75


def escape_text(value: str) -> str:
    """A TEXT value: backslash, semicolon and comma escaped, every line break written as ``\\n``."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")


def param_value(value: str) -> str:
    """A parameter value (``CN=...``): quoted when it holds ``:;,``; a double quote cannot appear at all."""
    value = "".join(char for char in value if char != '"' and (char == "\t" or ord(char) >= 0x20))
    return f'"{value}"' if any(char in value for char in ":;,") else value


def fold(line: str) -> str:
    """Split ``line`` into pieces of at most 75 octets, each after the first starting with one space.

    A split never falls inside a UTF-8 sequence: "ø" stays whole.
    """
    if len(line.encode()) <= LINE_OCTETS:
        return line
    pieces, current, size = [], "", 0
    for char in line:
        width = len(char.encode())
        if size + width > LINE_OCTETS:
            pieces.append(current)
            current, size = "", 1  # the continuation's leading space counts
        current += char
        size += width
    pieces.append(current)
    return "\r\n ".join(pieces)


def utc(value: dt.datetime) -> str:
    """A DATE-TIME in UTC form: ``20261201T083000Z``."""
    if value.tzinfo is None:
        raise ValueError("a calendar time needs a time zone")
    return value.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


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
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unsupported METHOD {method!r}")
    lines = ["BEGIN:VCALENDAR", f"PRODID:{PRODID}", "VERSION:2.0", "CALSCALE:GREGORIAN", f"METHOD:{method}",
             "BEGIN:VEVENT", f"UID:{event.uid}", f"SEQUENCE:{event.sequence}", f"DTSTAMP:{utc(event.stamp)}",
             f"DTSTART:{utc(event.starts_at)}", f"DTEND:{utc(event.ends_at)}",
             f"SUMMARY:{escape_text(event.summary)}", f"DESCRIPTION:{escape_text(event.description)}"]
    if event.url:
        lines += [f"LOCATION:{escape_text(event.url)}", f"URL:{event.url}"]
    if event.organizer:
        name = f";CN={param_value(event.organizer_name)}" if event.organizer_name else ""
        lines.append(f"ORGANIZER{name}:mailto:{event.organizer}")
    if event.attendee:
        lines.append(f"ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=FALSE:mailto:{event.attendee}")
    lines += [f"STATUS:{'CANCELLED' if method == 'CANCEL' else 'CONFIRMED'}", "TRANSP:OPAQUE",
              "END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) + "\r\n" for line in lines)
