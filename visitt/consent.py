"""Consent to video and its withdrawal (seeds 000, 001, 004; routine 003 §2.1): joining is consenting.

The lobby shows the patient, in their language, that video is voluntary, what happens to their
information, that nothing is recorded and that they may withdraw at any time without consequences
for their treatment (``templates/patient.html``). Knocking records consent with that text's version
and language. A withdrawal - from the patient's page, before or during the call, or recorded by staff
when the patient phones - ends video for the appointment, marks the patient so a later video booking
warns the booker, and is recorded with who, when and how. Rows are only added; each is audited.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt.errors import NotFound
from visitt.store import audit
from visitt.web.i18n import N_
from visitt.store.models import Appointment, AppointmentState, ConsentEvent, Room, RoomState, utcnow

TEXT_VERSION = "2026-12-1"  # the consent text in patient.html: a new version when its meaning changes
GIVEN, WITHDRAWN = "given", "withdrawn"
A = AppointmentState
SUGGEST_FROM = (A.booked, A.completed, A.technical_failure, A.cancelled)  # the states a withdrawal ends in from
HOW = ("knock", "patient_page", "phone_to_secretary", "in_person", "other")


def record_given(session: Session, appointment_id: int, *, language: str) -> bool:
    """The patient knocked: consent given, with the text version and language they saw; whether it was
    recorded. Appointments without a patient record (booked before the record existed) record nothing.
    The knock's own audit row names it (:func:`visitt.rooms.knock_participant`)."""
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or appointment.patient_id is None:
        return False
    session.add(ConsentEvent(patient_id=appointment.patient_id, appointment_id=appointment.id, kind=GIVEN,
                             at=utcnow(), text_version=TEXT_VERSION, language=language, recorded_by="patient",
                             how="knock"))
    return True


def withdraw_in_room(session: Session, room_id: int, participant_id: int | None, *, language: str) -> None:
    """:func:`withdraw` from the patient's page (``participant_id``: their invitation, for the audit row)."""
    appointment = room_appointment(session, room_id)
    if appointment is None:
        raise NotFound(N_("No such appointment."), code="unknown_room")
    withdraw(session, appointment, how="patient_page", language=language)


def withdraw(session: Session, appointment: Appointment, *, how: str, language: str,
             staff_id: int | None = None) -> bool:
    """The patient does not want video: recorded (by the patient, or by ``staff_id`` on their behalf),
    the patient marked, and video ended for this appointment - its room ended and its outcome
    ``patient_withdrew`` (unconfirmed, for the host to complete). Returns whether the room was ended
    now (the caller then tells whoever is connected). Part of the caller's unit of work."""
    from visitt import outcomes  # outcomes imports rooms, which imports the live protocol
    from visitt.rooms import move_room

    now = utcnow()
    actor = f"staff:{staff_id}" if staff_id is not None else f"patient:{appointment.patient_id}"
    if appointment.patient is not None:
        appointment.patient.withdrew_video_at = now
        session.add(ConsentEvent(patient_id=appointment.patient.id, appointment_id=appointment.id, kind=WITHDRAWN,
                                 at=now, text_version=TEXT_VERSION, language=language,
                                 recorded_by="staff" if staff_id is not None else "patient",
                                 staff_id=staff_id, how=how))
    room = appointment.room
    audit.record(session, actor, "withdraw", room_id=room.id if room else None,
                 subject=f"appointment:{appointment.id}", how=how)  # before the end it causes
    ended = False
    if room is not None and room.state is not RoomState.ended:
        move_room(session, room.id, RoomState.ended, actor=actor, action="end", reason="withdrawn")
        ended = True
    if appointment.state in SUGGEST_FROM:
        outcomes.suggest(session, appointment, "patient_withdrew", None)  # a confirmed outcome stays
    return ended


def history(session: Session, patient_id: int) -> list[ConsentEvent]:
    return list(session.scalars(select(ConsentEvent).where(ConsentEvent.patient_id == patient_id)
                                .order_by(ConsentEvent.at, ConsentEvent.id)))


def room_appointment(session: Session, room_id: int) -> Appointment | None:
    room = session.get(Room, room_id)
    return room.appointment if room is not None else None
