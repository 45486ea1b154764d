"""Joining with the six-digit code from the SMS, and the attempt limits that make guessing it useless.

A code is one of a million, so guessing is stopped by counting: failed attempts per client address,
and all attempts per code (so one real code tried from many addresses is limited too). They are
counted by the limiter (:mod:`visitt.limiter`, rules ``code_address`` and ``code``): in Redis when
Visitt runs on several nodes, so they hold across every node and across restarts. Whatever is
wrong with a code - unknown, cancelled, ended, outside its window - the answer is the same ``None``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt import joining
from visitt.web.i18n import N_
from visitt.limiter import Limiter, address_label
from visitt.store.models import AppointmentState, Participant, Room, RoomState, utcnow
from visitt.settings import Settings

log = logging.getLogger("visitt.code_entry")
CODE = re.compile(r"[0-9]{6}")
JOINABLE = (AppointmentState.booked, AppointmentState.in_progress)


def normalise(text: str) -> str | None:
    """The six digits typed, with spaces and dashes dropped; ``None`` if that is not six digits."""
    digits = re.sub(r"[\s-]", "", text)
    return digits if CODE.fullmatch(digits) else None


def find(session: Session, code: str, settings: Settings, now: dt.datetime) -> Participant | None:
    """The participant this code lets in now: a live room, a bookable appointment, inside the window."""
    candidates = session.scalars(
        select(Participant).join(Room).where(Participant.code == code, Room.state != RoomState.ended))
    for participant in candidates:
        appointment = participant.room.appointment
        if appointment is not None and appointment.state not in JOINABLE:
            continue
        span = joining.room_window(participant.room, settings)
        if span is None or span.timing(now) is joining.Timing.open:
            return participant
    return None


def enter(session: Session, code: str, address: str, settings: Settings, limiter: Limiter,
          now: dt.datetime | None = None) -> Participant | None:
    """Try ``code`` from ``address``: the participant it opens, or ``None`` for any code that does not.

    Raises :class:`~visitt.errors.RateLimited` once the address has failed, or the code has been
    tried, too often within the look-back; such refused attempts are not counted, so the block
    lifts as it ages.
    """
    message, error = N_("Too many attempts"), "too_many_attempts"
    limiter.check("code_address", address, message=message, code=error)
    limiter.check("code", code, message=message, code=error)
    participant = find(session, code, settings, now or utcnow())
    limiter.hit("code", code)
    if participant is None:
        limiter.hit("code_address", address)
        if not limiter.test("code_address", address):
            log.warning("code entry rate limit hit for address %s: %d wrong codes; refused for up to %d minutes",
                        address_label(address), settings.code_attempts_per_address, settings.code_attempt_minutes)
    if not limiter.test("code", code):
        log.warning("code entry rate limit hit for one code: tried %d times; refused for up to %d minutes",
                    settings.code_attempts_per_code, settings.code_attempt_minutes)
    return participant
