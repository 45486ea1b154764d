"""Staff browser sessions: opened at sign-in, ended by signing out, by time-outs, or by deactivation.

A session is a random token in an ``HttpOnly`` cookie; the database keeps its SHA-256 hash. It
ends at the *absolute* time-out (``VISITT_SESSION_HOURS`` after sign-in, whatever happens) and at
the *idle* time-out (``VISITT_SESSION_IDLE_MINUTES`` without a request). Last use is written at
most once every :data:`TOUCH_SECONDS`, so an idle time-out may come up to that much later.

A session has a *stage*: ``full`` (signed in), or - for the few minutes between a right password
and the rest - ``second_factor`` (the code is still to come) or ``enrol`` (an administrator who must
set a second factor up first). Only a ``full`` session reaches any page but those steps'.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from visitt.store import audit
from visitt.store.models import Staff, WebSession, utcnow

STAGES = ("full", "second_factor", "enrol")
PENDING_MINUTES = 10  # how long the step after the password may take
TOUCH_SECONDS = 60


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Lookup:
    """What a session cookie stands for: the staff member signed in, or why not. ``ended``: ``idle``
    or ``expired`` for a session that has just timed out (the sign-in page says so), else None."""

    staff: Staff | None
    row: WebSession | None = None
    ended: str | None = None


def open_session(session: Session, staff: Staff, hours: int, stage: str = "full",
                 idle_minutes: int | None = None, *, id_token: str | None = None) -> str:
    """A new session for ``staff``; its token, for the cookie. A pending stage lasts
    :data:`PENDING_MINUTES` at most."""
    if stage not in STAGES:
        raise ValueError(f"unknown session stage {stage!r}")
    token, now = secrets.token_urlsafe(32), utcnow()
    ends = now + (dt.timedelta(hours=hours) if stage == "full" else dt.timedelta(minutes=PENDING_MINUTES))
    session.add(WebSession(staff_id=staff.id, token_hash=_digest(token), expires_at=ends, stage=stage,
                           last_seen_at=now, idle_minutes=idle_minutes, id_token=id_token))
    if stage == "full":
        staff.last_sign_in_at = now  # the admin console's "last sign-in"
    session.flush()
    return token


def _find(session: Session, token: str | None) -> Lookup:
    """The session row for ``token`` if it is still good, whatever its stage; a timed-out one is deleted."""
    if not token:
        return Lookup(None)
    row = session.scalar(select(WebSession).where(WebSession.token_hash == _digest(token)))
    if row is None or not row.staff.active:
        return Lookup(None)
    now = utcnow()
    ended = None
    if row.expires_at <= now:
        ended = "expired"
    elif row.idle_minutes is not None and row.last_seen_at is not None \
            and now - row.last_seen_at > dt.timedelta(minutes=row.idle_minutes):
        ended = "idle"
    if ended is not None:
        audit.record(session, f"staff:{row.staff_id}", "session_ended", reason=ended)
        session.execute(delete(WebSession).where(WebSession.id == row.id))
        return Lookup(None, ended=ended if row.stage == "full" else None)
    if row.last_seen_at is None or now - row.last_seen_at > dt.timedelta(seconds=TOUCH_SECONDS):
        row.last_seen_at = now
    return Lookup(row.staff, row)


def look_up(session: Session, token: str | None) -> Lookup:
    """The staff member fully signed in with ``token`` (``staff`` None otherwise)."""
    found = _find(session, token)
    if found.row is not None and found.row.stage != "full":
        return Lookup(None)
    return found


def pending(session: Session, token: str | None, *stages: str) -> WebSession | None:
    """The session for ``token`` if it is at one of ``stages`` (and still good)."""
    found = _find(session, token)
    return found.row if found.row is not None and found.row.stage in stages else None


def complete(session: Session, row: WebSession, hours: int, idle_minutes: int | None) -> str:
    """The step after the password is done: the pending session is replaced by a full one with a new
    token (a token seen before the second factor never becomes a signed-in one)."""
    staff = row.staff
    session.execute(delete(WebSession).where(WebSession.id == row.id))
    return open_session(session, staff, hours, "full", idle_minutes)


def close_session(session: Session, token: str | None) -> str | None:
    """End the session ``token``; the ID token single sign-on opened it with, if it did (for signing
    out at the provider too)."""
    if token:
        row = session.scalar(select(WebSession).where(WebSession.token_hash == _digest(token)))
        if row is not None:
            audit.record(session, f"staff:{row.staff_id}", "logout")
            session.execute(delete(WebSession).where(WebSession.id == row.id))
            return row.id_token
    return None


def end_all(session: Session, staff: Staff) -> int:
    """End every session of ``staff`` (deactivation, a password reset); how many there were."""
    rows = session.scalars(select(WebSession.id).where(WebSession.staff_id == staff.id)).all()
    session.execute(delete(WebSession).where(WebSession.staff_id == staff.id))
    return len(rows)
