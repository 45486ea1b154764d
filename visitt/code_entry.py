"""Joining with the six-digit code from the SMS, and the attempt limits that make guessing it useless.

A code is one of a million, so guessing is stopped by counting: failed attempts per client address,
and all attempts per code (so one real code tried from many addresses is limited too). The counts
live in the database, so they hold across restarts and across every node sharing it. Whatever is
wrong with a code - unknown, cancelled, ended, outside its window - the answer is the same ``None``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from . import joining
from .errors import RateLimited
from .i18n import N_
from .models import AppointmentState, CodeAttempt, Participant, Room, RoomState, utcnow
from .settings import Settings

log = logging.getLogger("visitt.code_entry")
CODE = re.compile(r"[0-9]{6}")
JOINABLE = (AppointmentState.booked, AppointmentState.in_progress)
# Log lines name an address by a keyed hash: the same address gives the same label within one process,
# so an operator can follow one attacker, but a label cannot be turned back into an address.
_LOG_KEY = secrets.token_bytes(16)


def normalise(text: str) -> str | None:
    """The six digits typed, with spaces and dashes dropped; ``None`` if that is not six digits."""
    digits = re.sub(r"[\s-]", "", text)
    return digits if CODE.fullmatch(digits) else None


def address_label(address: str) -> str:
    return hmac.new(_LOG_KEY, address.encode(), hashlib.sha256).hexdigest()[:12]


def _hash(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def find(session: Session, code: str, settings: Settings, now: dt.datetime) -> Participant | None:
    """The participant this code lets in now: a live room, a bookable appointment, inside the window."""
    candidates = session.scalars(
        select(Participant).join(Room).where(Participant.code == code, Room.state != RoomState.ended))
    for participant in candidates:
        appointment = participant.room.appointment
        if appointment is not None and appointment.state not in JOINABLE:
            continue
        span = joining.window(appointment, settings)
        if span is None or span.timing(now) is joining.Timing.open:
            return participant
    return None


def enter(session: Session, code: str, address: str, settings: Settings,
          now: dt.datetime | None = None) -> Participant | None:
    """Try ``code`` from ``address``: the participant it opens, or ``None`` for any code that does not.

    Raises :class:`RateLimited` once the address has failed, or the code has been tried, too often
    within the look-back; such refused attempts are not counted, so the block lifts as it ages.
    """
    now = now or utcnow()
    minutes = settings.code_attempt_minutes
    since = now - dt.timedelta(minutes=minutes)
    address_hash, code_hash = _hash("address", address), _hash("code", code)
    session.execute(delete(CodeAttempt).where(CodeAttempt.at < since))
    recent = select(func.count()).select_from(CodeAttempt).where(CodeAttempt.at >= since)
    failures = session.scalar(recent.where(CodeAttempt.address_hash == address_hash, CodeAttempt.ok.is_(False)))
    tries = session.scalar(recent.where(CodeAttempt.code_hash == code_hash))
    if (failures or 0) >= settings.code_attempts_per_address or (tries or 0) >= settings.code_attempts_per_code:
        raise RateLimited(N_("Too many attempts"), code="too_many_attempts")

    participant = find(session, code, settings, now)
    session.add(CodeAttempt(at=now, address_hash=address_hash, code_hash=code_hash, ok=participant is not None))
    if participant is None and (failures or 0) + 1 == settings.code_attempts_per_address:
        log.warning("code entry rate limit hit for address %s: %d wrong codes; refused for up to %d minutes",
                    address_label(address), settings.code_attempts_per_address, minutes)
    if (tries or 0) + 1 == settings.code_attempts_per_code:
        log.warning("code entry rate limit hit for one code: tried %d times; refused for up to %d minutes",
                    settings.code_attempts_per_code, minutes)
    return participant
