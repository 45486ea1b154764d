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
from visitt.store.models import (Appointment, AppointmentState, ConsentEvent, Participant, ParticipantState, Room,
                                 RoomState, utcnow)

TEXT_VERSION = "2026-12-1"  # the consent text in patient.html: a new version when its meaning changes
GIVEN, WITHDRAWN = "given", "withdrawn"
A = AppointmentState
SUGGEST_FROM = (A.booked, A.completed, A.technical_failure, A.cancelled)  # the states a withdrawal ends in from
HOW = ("knock", "patient_page", "phone_to_secretary", "in_person", "other")


def record_given(session: Session, appointment_id: int, *, language: str, participant_id: int | None = None) -> bool:
    """The patient knocked: consent given, with the text version and language they saw; whether it was
    recorded. Appointments without a patient record (booked before the record existed) record nothing.
    The knock's own audit row names it (:func:`visitt.rooms.knock_participant`). In a group consultation,
    another patient than the booked one (``participant_id``: the knocking invitation) has no patient
    record: their knock's audit row is their consent's record, never the booked patient's record."""
    from visitt import groups

    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        return False
    booked = groups.booked_invitation(appointment) if groups.is_group(appointment) else None
    if booked is not None and participant_id is not None and booked.id != participant_id:
        return True  # named in the knock's audit row only
    if appointment.patient_id is None:
        return False
    session.add(ConsentEvent(patient_id=appointment.patient_id, appointment_id=appointment.id, kind=GIVEN,
                             at=utcnow(), text_version=TEXT_VERSION, language=language, recorded_by="patient",
                             how="knock"))
    return True


def withdraw_in_room(session: Session, room_id: int, participant_id: int | None, *, language: str) -> bool:
    """:func:`withdraw` from the patient's page (``participant_id``: their invitation); in a group
    consultation :func:`withdraw_from_group`. Whether video ended for the whole appointment."""
    from visitt import groups

    appointment = room_appointment(session, room_id)
    if appointment is None:
        raise NotFound(N_("No such appointment."), code="unknown_room")
    participant = session.get(Participant, participant_id) if participant_id is not None else None
    if groups.is_group(appointment) and participant is not None:
        withdraw_from_group(session, appointment, participant, how="patient_page", language=language)
        return False
    withdraw(session, appointment, how="patient_page", language=language)
    return True


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


def withdraw_from_group(session: Session, appointment: Appointment, participant: Participant, *, how: str,
                        language: str, staff_id: int | None = None) -> None:
    """One patient of a group consultation does not want video: only their part ends. Their invitation
    leaves the call (``left``; ``invited`` again while waiting), while the room, the others and the
    appointment go on. Audited as ``withdraw`` with their invitation as subject; the booked patient's
    withdrawal is recorded and marked as in :func:`withdraw` (the others have no patient record). The
    caller tells the live room (:meth:`visitt.live.hub.Hub.part_withdrawn`). Part of the caller's unit of work."""
    from visitt import groups
    from visitt.rooms import lock_participants, move_participant  # rooms imports the live protocol

    actor = f"staff:{staff_id}" if staff_id is not None else f"participant:{participant.public_id}"
    if participant is groups.booked_invitation(appointment) and appointment.patient is not None:
        now = utcnow()
        appointment.patient.withdrew_video_at = now
        session.add(ConsentEvent(patient_id=appointment.patient.id, appointment_id=appointment.id, kind=WITHDRAWN,
                                 at=now, text_version=TEXT_VERSION, language=language,
                                 recorded_by="staff" if staff_id is not None else "patient",
                                 staff_id=staff_id, how=how))
    audit.record(session, actor, "withdraw", room_id=participant.room_id,
                 subject=f"participant:{participant.public_id}", how=how)
    leaving = {ParticipantState.admitted: ParticipantState.left, ParticipantState.waiting: ParticipantState.invited}
    (locked,) = lock_participants(session, [participant.id])
    if locked.state in leaving:
        move_participant(session, participant.id, leaving[locked.state], actor=actor, action=None)


def history(session: Session, patient_id: int) -> list[ConsentEvent]:
    return list(session.scalars(select(ConsentEvent).where(ConsentEvent.patient_id == patient_id)
                                .order_by(ConsentEvent.at, ConsentEvent.id)))


def room_appointment(session: Session, room_id: int) -> Appointment | None:
    room = session.get(Room, room_id)
    return room.appointment if room is not None else None
