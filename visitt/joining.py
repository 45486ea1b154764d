"""Ways into a consultation: the SMS link, the six-digit code, and the window in which both work.

The link carries a token whose SHA-256 hash identifies the participant. The code (see
:mod:`visitt.code_entry`) leads to the same page without the token, which is never stored in clear:
a correct code earns a *guest pass*, a random value in an HttpOnly, SameSite=Strict cookie whose hash
is stored with the participant and an expiry. The patient page (``/v``) and its WebSocket (``/ws/v``)
accept the pass instead of the token. See ``docs/joining.md``.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from visitt.accounts import digest, new_secret
from visitt.store.db import Database
from visitt.errors import Forbidden
from visitt.store.models import Appointment, GuestPass, Meeting, Participant, Room, utcnow
from visitt.rooms import Booked, GuestRecord, Locked, Scheduled, guest_for_token
from visitt.settings import Settings

PASS_COOKIE = "visitt_guest"
PASS_HOURS = 12  # a pass for a participant without an appointment (and so without a window)


class Timing(str, enum.Enum):
    early = "early"
    open = "open"
    late = "late"


@dataclass(frozen=True)
class Window:
    """When an invitation works: from ``opens_at`` up to, not including, ``closes_at`` (UTC)."""

    opens_at: dt.datetime
    closes_at: dt.datetime

    def __post_init__(self) -> None:
        if self.closes_at <= self.opens_at:
            raise ValueError("a link window must close after it opens")

    def timing(self, now: dt.datetime) -> Timing:
        if now < self.opens_at:
            return Timing.early
        return Timing.open if now < self.closes_at else Timing.late


def window(scheduled: Appointment | Booked | Meeting | Scheduled | None, settings: Settings) -> Window | None:
    """The window of the invitations to an appointment or a staff meeting (the same for both); ``None``
    (always open) for a room with neither (a portal visit)."""
    if scheduled is None:
        return None
    ends_at = scheduled.starts_at + dt.timedelta(minutes=scheduled.duration_minutes)
    return Window(scheduled.starts_at - dt.timedelta(minutes=settings.link_opens_minutes),
                  ends_at + dt.timedelta(hours=settings.link_closes_hours))


def room_window(room: Room, settings: Settings) -> Window | None:
    """The window of ``room``'s invitations: its appointment's, or its staff meeting's."""
    return window(room.appointment or room.meeting, settings)


def check_window(participant: Locked, settings: Settings, now: dt.datetime | None = None) -> None:
    """Refuse a knock outside the window, read afresh (in the knock's transaction: see
    :meth:`visitt.live.hub.Hub.knock`) so a moved appointment or meeting counts at once."""
    span = window(participant.appointment or participant.meeting, settings)
    timing = span.timing(now or utcnow()) if span else Timing.open
    if timing is Timing.early:
        raise Forbidden("the link does not work yet: it opens shortly before the appointment", code="too_early")
    if timing is Timing.late:
        raise Forbidden("the link no longer works: the appointment is over", code="too_late")


def issue_pass(session: Session, participant: Participant, settings: Settings,
               now: dt.datetime | None = None) -> tuple[str, dt.datetime]:
    """A new guest pass for ``participant``: the cookie value and when it expires."""
    now = now or utcnow()
    session.execute(delete(GuestPass).where(GuestPass.expires_at < now))
    span = room_window(participant.room, settings)
    expires_at = span.closes_at if span else now + dt.timedelta(hours=PASS_HOURS)
    value = new_secret()
    session.add(GuestPass(token_hash=digest(value), participant_id=participant.id, expires_at=expires_at))
    return value, expires_at


def participant_for_pass(session: Session, value: str | None, now: dt.datetime | None = None) -> Participant | None:
    if not value:
        return None
    row = session.scalar(select(GuestPass).where(GuestPass.token_hash == digest(value)))
    if row is None or row.expires_at <= (now or utcnow()):
        return None
    return row.participant


def guest(database: Database, token: str | None, pass_value: str | None) -> GuestRecord | None:
    """Who opens a guest socket: by the link's token if there is one, else by the guest pass."""
    if token:
        return guest_for_token(database, digest(token))
    with database.session() as session:
        participant = participant_for_pass(session, pass_value)
        token_hash = participant.token_hash if participant else None
    return guest_for_token(database, token_hash) if token_hash else None
