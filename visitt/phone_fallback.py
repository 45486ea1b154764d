"""Continue by phone: the clinician ends the video for everyone and phones the patient instead (seeds 001, 004).

One transition, :func:`continue_by_phone`: the room ends as with End (:func:`visitt.rooms.move_room`, audited
``continue_by_phone``), and the appointment's outcome is pre-filled "continued by phone", unconfirmed until the
clinician confirms it. The live side (:meth:`visitt.live.hub.Hub.continue_by_phone`) then tells the patient that
the clinician will call them now, on their number shown partly masked (:func:`masked`), and gives the clinician
the full number as a ``tel:`` link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from visitt import phones
from visitt.errors import NotFound
from visitt.rooms import move_room
from visitt.store.models import Room, RoomState

MASK = "•"
SHOWN_DIGITS = 3  # the last three digits: enough for the patient to recognise their number, not to dial it


def masked(number: str) -> str:
    """``number`` with its country code and its last three digits only: ``"+47 412 34 678"`` → ``"+47 ••• •• 678"``."""
    written = phones.written(number)
    country, _, rest = written.partition(" ") if written.startswith("+") else ("", "", written)
    digits = re.sub(r"\D", "", rest)
    hidden = len(digits) - SHOWN_DIGITS
    if hidden <= 0:
        return written
    bullets = " ".join(MASK * len(group) for group in re.findall(".{1,3}", "x" * hidden))
    return " ".join(part for part in (country, bullets, digits[hidden:]) if part)


@dataclass(frozen=True)
class PhoneCall:
    """Whom the clinician calls: the patient's number, masked for the patient's screen, and as a ``tel:`` link."""

    masked: str
    tel: str


def patient_number(room: Room) -> str:
    """The patient's mobile number: their invitation's, else (none invited yet) the booking's."""
    for participant in room.participants:
        if participant.kind == "patient" and participant.phone:
            return participant.phone
    return room.appointment.patient_phone if room.appointment is not None else ""


def continue_by_phone(session: Session, room_id: int, *, actor: str) -> PhoneCall | None:
    """End the room's video for everyone (audit ``continue_by_phone``) and pre-fill the appointment's outcome
    as continued by phone, unconfirmed. Returns whom to call, or None when the room has no patient number."""
    move_room(session, room_id, RoomState.ended, actor=actor, action="continue_by_phone")
    room = session.get(Room, room_id)
    if room is None:
        raise NotFound("no such room")
    if room.appointment is not None:  # pre-filled; the clinician confirms it in the outcome dialog
        room.appointment.outcome = "continued_by_phone"
        room.appointment.failure_reason = None
        room.appointment.outcome_confirmed = False
    number = patient_number(room)
    return PhoneCall(masked=masked(number), tel=phones.tel_uri(number)) if number else None
