"""Retention: an appointment's personal data is removed ``VISITT_RETENTION_DAYS`` (90 by default) after it.

Once a consultation is that old, every personal field that hangs on its room is blanked or its row
deleted (:data:`PERSONAL`): the patient's name, number and e-mail address, the other participants'
names and numbers, the SMS and e-mail texts and recipients in the outbox (and the ``.eml`` files of the
mail file backend), the identity checks' notes and any guest passes. What stays - the appointment's
time, state and clinician, the room's state, the audit trail - names people only by pseudonymous
references (``appointment:<id>``, ``participant:<public id>``, ``staff:<id>``), which nothing links
to a person any longer. A visit by the portal (a room without an appointment) is treated alike, aged
from when it ended; a staff meeting (``meetings.py``) too, aged from its planned end if it never ended, its
title blanked and its invitations' messages (found by their room) with it.

A daily pass in every node (:func:`run`) and ``visitt retention run`` do it. Each room is claimed by a
row in ``retention`` first, so the pass is idempotent, and two nodes never both do one room; each room
done is one ``retention`` audit row. See ``docs/privacy.md``.

To add a personal field (a new column), append a :class:`Personal` to :data:`PERSONAL`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import ColumnElement, delete, exists, false, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from visitt import codes
from visitt.errors import describe
from visitt.settings import Settings
from visitt.store import audit
from visitt.store.db import Database
from visitt.store.models import (
    Appointment,
    GuestPass,
    IdentityCheck,
    Meeting,
    PatientOutcome,
    OutboxMessage,
    Participant,
    Patient,
    Retention,
    Room,
    utcnow,
)

log = logging.getLogger("visitt.retention")
BATCH = 200  # rooms per transaction
DAY = 24 * 3600.0


@dataclass(frozen=True)
class Personal:
    """Personal data of a room: the rows of ``model`` that ``rows(room)`` selects, and what happens to them -
    ``blank`` sets each of ``fields`` to the empty string, ``null`` to null (a unique or optional column),
    ``delete`` deletes the rows."""

    model: type[Any]
    fields: tuple[str, ...]
    how: Literal["blank", "null", "delete"]
    rows: Callable[[Room], ColumnElement[bool]]


def _of_appointment(column: Any) -> Callable[[Room], ColumnElement[bool]]:
    def rows(room: Room) -> ColumnElement[bool]:
        return column == room.appointment_id if room.appointment_id is not None else false()
    return rows


def _patient_of(room: Room) -> ColumnElement[bool]:
    """The room's patient (``patients.py``), once none of their other consultations is still kept: the
    record follows the patient from booking to booking, so it goes with their last one. Their consent
    events stay, with nothing in them that names the patient."""
    appointment = room.appointment
    if appointment is None or appointment.patient_id is None:
        return false()
    kept = (select(Room.id).join(Appointment, Room.appointment_id == Appointment.id)
            .where(Appointment.patient_id == appointment.patient_id, Room.id != room.id,
                   Room.id.not_in(select(Retention.room_id))))
    return (Patient.id == appointment.patient_id) & ~exists(kept)


PERSONAL: list[Personal] = [
    Personal(Appointment, ("patient_name", "patient_phone", "patient_email", "outcome_note", "exemption_reason"),
             "blank", _of_appointment(Appointment.id)),
    Personal(Appointment, ("external_ref",), "null", _of_appointment(Appointment.id)),
    Personal(Patient, ("name", "phone"), "blank", _patient_of),
    Personal(Patient, ("national_id",), "null", _patient_of),
    Personal(Participant, ("display_name", "phone", "email"), "blank", lambda room: Participant.room_id == room.id),
    Personal(OutboxMessage, ("recipient", "body", "last_error"), "blank", _of_appointment(OutboxMessage.appointment_id)),
    Personal(IdentityCheck, ("note",), "blank", lambda room: IdentityCheck.room_id == room.id),
    Personal(PatientOutcome, ("note",), "blank", lambda room: PatientOutcome.participant_id.in_(
        select(Participant.id).where(Participant.room_id == room.id))),
    # a staff meeting's invitations (no appointment) and its title, which may name a patient
    Personal(OutboxMessage, ("recipient", "body", "last_error"), "blank", lambda room: OutboxMessage.room_id == room.id),
    Personal(Meeting, ("title",), "blank", lambda room: Meeting.room_id == room.id),
    Personal(GuestPass, (), "delete", lambda room: GuestPass.participant_id.in_(
        select(Participant.id).where(Participant.room_id == room.id))),
]


def _over(room: Room) -> dt.datetime | None:
    """When ``room``'s consultation was over: its appointment's end, or a portal visit's end (the room's, or
    its visitor's last change while it never ended)."""
    if room.appointment is not None:
        return room.appointment.starts_at + dt.timedelta(minutes=room.appointment.duration_minutes)
    if room.ended_at is not None:
        return room.ended_at
    if room.meeting is not None:  # a staff meeting never ended: its planned end, or later activity
        end = room.meeting.starts_at + dt.timedelta(minutes=room.meeting.duration_minutes)
        return max([end, *(participant.updated_at for participant in room.participants)])
    return max((participant.updated_at for participant in room.participants), default=None)


def due(session: Session, settings: Settings, now: dt.datetime) -> list[Room]:
    """Rooms past retention and not yet done, at most :data:`BATCH`."""
    cutoff = now - dt.timedelta(days=settings.retention_days)
    done = select(Retention.room_id)
    query = (select(Room).outerjoin(Appointment, Room.appointment_id == Appointment.id)
             .where(Room.id.not_in(done),
                    or_(Appointment.starts_at < cutoff, Room.appointment_id.is_(None)))
             .order_by(Room.id).limit(BATCH * 5))
    rooms = []
    for room in session.scalars(query):
        over = _over(room)
        if over is not None and over <= cutoff:
            rooms.append(room)
            if len(rooms) == BATCH:
                break
    return rooms


def forget(session: Session, room: Room, *, mail_dir: Path | None = None, now: dt.datetime | None = None) -> bool:
    """Remove ``room``'s personal data (:data:`PERSONAL`) and audit it; False if another pass has done it."""
    try:
        with session.begin_nested():
            session.add(Retention(room_id=room.id, done_at=now or utcnow()))
    except IntegrityError:
        return False
    if mail_dir is not None:  # the mail file backend's copies: the appointment's, or a staff meeting's
        of_room = (OutboxMessage.appointment_id == room.appointment_id if room.appointment_id is not None
                   else OutboxMessage.room_id == room.id)
        mails = session.scalars(select(OutboxMessage.id).where(of_room, OutboxMessage.channel == "email"))
        for message_id in mails:
            (mail_dir / f"{message_id}.eml").unlink(missing_ok=True)
    for personal in PERSONAL:
        where = personal.rows(room)
        if personal.how == "delete":
            session.execute(delete(personal.model).where(where).execution_options(synchronize_session=False))
        else:
            empty = None if personal.how == "null" else ""
            session.execute(update(personal.model).where(where).values({field: empty for field in personal.fields})
                            .execution_options(synchronize_session=False))
    subject = f"appointment:{room.appointment_id}" if room.appointment_id is not None else ""
    audit.record(session, "system", "retention", room_id=room.id, subject=subject)
    return True


def run_once(database: Database, settings: Settings, now: dt.datetime | None = None) -> int:
    """One pass: every room past retention, in batches; then free the codes whose window has closed.
    Returns how many rooms were done."""
    now = now or utcnow()
    mail_dir = settings.data_dir / "mail"
    total = 0
    while True:
        with database.session() as session:
            rooms = due(session, settings, now)
            done = sum(forget(session, room, mail_dir=mail_dir, now=now) for room in rooms)
            session.commit()
        total += done
        if len(rooms) < BATCH:
            break
    with database.session() as session:
        freed = codes.sweep(session, settings, now)
        session.commit()
    if total or freed:
        log.info("retention: personal data removed from %d consultation(s); %d code(s) freed", total, freed)
    return total


async def run(database: Database, settings: Settings, *, interval: float = DAY) -> None:
    """The daily pass, from the app's lifespan: once at start, then every ``interval`` seconds."""
    while True:
        try:
            await asyncio.to_thread(run_once, database, settings)
        except Exception as error:
            log.error("retention pass failed (%s); trying again in an hour", describe(error))
            await asyncio.sleep(min(interval, 3600.0))
            continue
        await asyncio.sleep(interval)
