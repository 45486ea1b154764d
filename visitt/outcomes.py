"""What happened in a consultation: its outcome, recorded by the host in one step after the call,
pre-filled with what Visitt suggests from what it saw (``docs/record.md``).

Visitt never stores ``completed`` for a call whose media never flowed both ways: when such a call
ends, the suggestion is a technical failure (no connection), and the host cannot choose completed
for it. A call that ended within a minute of a guest's connection dropping, or after their
reconnection gave up, is suggested as a technical failure (dropped). Ending without choosing keeps
the suggestion, flagged unconfirmed; the dashboard lists those.

Each outcome puts the appointment in the state :data:`STATE_OF` says, through the state machine's
checks (:func:`visitt.rooms.check_outcome_move`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt import access, text as human
from visitt.errors import Conflict, NotFound, ValidationFailed
from visitt.rooms import check_outcome_move, record_no_show
from visitt.store import audit
from visitt.store.models import (Appointment, AppointmentState, Participant, PatientOutcome, RoomState, Staff,
                                 utcnow)
from visitt.web.i18n import N_

A = AppointmentState
OUTCOMES = ("completed", "technical_failure", "continued_by_phone", "patient_withdrew", "no_show", "cancelled")
FAILURE_REASONS = ("no_connection", "poor_media", "dropped")
STATE_OF = {"completed": A.completed, "continued_by_phone": A.completed, "technical_failure": A.technical_failure,
            "patient_withdrew": A.cancelled, "no_show": A.no_show, "cancelled": A.cancelled}
NAMES = {
    "completed": N_("Completed"),
    "technical_failure": N_("Technical failure"),
    "continued_by_phone": N_("Continued by phone"),
    "patient_withdrew": N_("Patient withdrew from video"),
    "no_show": N_("No-show"),
    "cancelled": N_("Cancelled by the clinic"),
}
FAILURE_NAMES = {"no_connection": N_("No connection"), "poor_media": N_("Poor sound or picture"),
                 "dropped": N_("The connection dropped")}
MAX_NOTE = 500
Outcome = Literal["completed", "technical_failure", "continued_by_phone", "patient_withdrew", "no_show", "cancelled"]
FailureReason = Literal["no_connection", "poor_media", "dropped"]


class OutcomeSet(BaseModel):
    """The host's outcome for a consultation that has ended (or never began)."""

    outcome: str = Field("", description="completed, technical_failure, continued_by_phone, patient_withdrew, "
                                     "no_show or cancelled.", examples=["completed"])
    failure_reason: str | None = Field(None, description="With technical_failure: no_connection, poor_media or "
                                                         "dropped.")
    follow_up: bool | None = Field(None, description="Whether further follow-up was agreed.")
    note: Annotated[str, Field(max_length=4 * MAX_NOTE)] = Field(
        "", description=f"A short note kept in Visitt's record (at most {MAX_NOTE} characters).")


class OutcomePublic(BaseModel):
    id: int
    state: str
    outcome: str | None
    failure_reason: str | None
    outcome_confirmed: bool
    follow_up: bool | None
    media_flowed: bool
    copayment_nok: str
    copayment_exempt: bool
    copayment_reason: str | None


def _set(appointment: Appointment, outcome: str, failure_reason: str | None) -> None:
    target = STATE_OF[outcome]
    check_outcome_move(appointment.state, target)
    appointment.state = target
    appointment.outcome, appointment.failure_reason = outcome, failure_reason


def suggestion(appointment: Appointment, *, dropped: bool) -> tuple[str, str | None]:
    """Visitt's outcome for a call that has just ended, from what the live room saw."""
    if not appointment.media_flowed:
        return "technical_failure", "no_connection"
    if dropped:
        return "technical_failure", "dropped"
    return "completed", None


def suggest(session: Session, appointment: Appointment, outcome: str, failure_reason: str | None) -> None:
    """Store ``outcome`` as Visitt's suggestion, unconfirmed (a confirmed outcome is the host's and stays)."""
    if appointment.outcome_confirmed:
        return
    _set(appointment, outcome, failure_reason)
    appointment.outcome_at = utcnow()


def call_ended(session: Session, appointment: Appointment, *, dropped: bool) -> tuple[str, str | None]:
    """(From :func:`visitt.rooms.move_room`, whose audit row ``end`` names it.) The call is over: its end
    time and the suggested outcome, which is returned."""
    appointment.ended_at = utcnow()
    outcome, reason = suggestion(appointment, dropped=dropped)
    suggest(session, appointment, outcome, reason)
    return outcome, reason


def mark_media_flowed(session: Session, room_id: int) -> None:
    """The host's page saw sound or picture flow both ways in this room's call."""
    appointment = session.scalar(select(Appointment).where(Appointment.room.has(id=room_id)))
    if appointment is not None:
        appointment.media_flowed = True


def validate(data: OutcomeSet, appointment: Appointment) -> tuple[str, str | None, str]:
    """The outcome, failure reason and note, or :class:`ValidationFailed` with every problem."""
    errors: dict[str, str] = {}
    reason = data.failure_reason or None
    if data.outcome not in OUTCOMES:
        errors["outcome"] = N_("Choose one of these outcomes: completed, technical_failure, continued_by_phone, "
                               "patient_withdrew, no_show, cancelled.")
    elif data.outcome == "technical_failure":
        if reason not in FAILURE_REASONS:
            errors["failure_reason"] = N_("Choose what failed: no_connection, poor_media or dropped.")
    elif reason is not None:
        errors["failure_reason"] = N_("Give a failure reason only with a technical failure.")
    elif data.outcome == "completed" and not appointment.media_flowed:
        errors["outcome"] = N_("Sound and picture never reached both sides in this consultation, so it "
                               "cannot be recorded as completed by video.")
    note = data.note.strip()
    if human.refused(data.note):
        errors["note"] = human.REFUSED
    elif len(note) > MAX_NOTE:
        errors["note"] = N_("The note is too long (500 characters at most).")  # MAX_NOTE
    if errors:
        raise ValidationFailed(N_("The outcome could not be recorded."), fields=errors)
    return data.outcome, reason, note


def record(session: Session, staff: Staff, appointment: Appointment, data: OutcomeSet) -> bool:
    """The host's (or a secretary's, for their department) outcome, confirmed. Returns whether the
    appointment's room was ended now (a no-show recorded this way), so the caller tells the live room."""
    access.require(staff, access.Action.manage, appointment)
    outcome, reason, note = validate(data, appointment)
    room = appointment.room
    live = room is not None and room.state is not RoomState.ended
    if appointment.state is A.in_progress and live:
        raise Conflict(N_("The consultation is still going on. Record the outcome when it has ended."),
                       code="in_progress")
    if outcome == "cancelled" and appointment.state is not A.cancelled:
        raise Conflict(N_("Cancel the appointment first: the patient gets a message that it is cancelled."),
                       code="illegal_transition")
    if outcome == "patient_withdrew" and appointment.state is A.booked:
        raise Conflict(N_("Record the patient's withdrawal from video on the appointment's page."),
                       code="illegal_transition")
    actor = f"staff:{staff.id}"
    ended = False
    if outcome == "no_show" and appointment.state is A.booked:
        record_no_show(session, appointment, actor=actor)
        ended = live
    else:
        _set(appointment, outcome, reason)
        if room is not None and live:  # a technical failure before anyone got in: the link leads nowhere now
            from visitt.rooms import move_room

            move_room(session, room.id, RoomState.ended, actor=actor, action="end", reason="outcome")
            ended = True
    appointment.outcome, appointment.failure_reason = outcome, reason
    appointment.outcome_confirmed, appointment.outcome_by_id, appointment.outcome_at = True, staff.id, utcnow()
    appointment.follow_up, appointment.outcome_note = data.follow_up, note
    audit.record(session, actor, "outcome", room_id=room.id if room else None,
                 subject=f"appointment:{appointment.id}", outcome=outcome, reason=reason, confirmed=True)
    return ended


def unconfirmed(session: Session, staff: Staff, limit: int = 50) -> list[Appointment]:
    """The ended consultations ``staff`` manages whose outcome is still Visitt's suggestion."""
    query = (select(Appointment).where(access.managed_appointments(staff))
             .where(Appointment.outcome.is_not(None), Appointment.outcome_confirmed.is_(False))
             .order_by(Appointment.starts_at.desc()).limit(limit))
    return list(session.scalars(query))


def public(session: Session, appointment: Appointment) -> OutcomePublic:
    from visitt.copayment import copayment_for

    decision = copayment_for(session, appointment)
    return OutcomePublic(id=appointment.id, state=appointment.state.value, outcome=appointment.outcome,
                         failure_reason=appointment.failure_reason, outcome_confirmed=appointment.outcome_confirmed,
                         follow_up=appointment.follow_up, media_flowed=appointment.media_flowed,
                         copayment_nok=str(decision.amount_nok), copayment_exempt=decision.exempt,
                         copayment_reason=decision.reason)


# A group consultation (visitt/groups.py): the host records an outcome for each patient in it, separately.
PATIENT_OUTCOMES = ("completed", "technical_failure", "continued_by_phone", "patient_withdrew", "no_show")


class PatientOutcomeSet(OutcomeSet):
    """One patient's outcome in a group consultation. ``cancelled`` is the whole appointment's (cancel it)."""

    exemption: str | None = Field(None, description="This patient's co-payment exemption code (frikort, "
                                                     "child_under_16, ...), if any.")


class PatientOutcomePublic(BaseModel):
    participant: str = Field(description="The patient's invitation (its id in the call).")
    name: str
    outcome: str | None
    failure_reason: str | None
    follow_up: bool | None
    copayment_nok: str
    copayment_exempt: bool
    copayment_reason: str | None


def group_patient(appointment: Appointment, participant_id: str) -> Participant:
    """The patient (by their invitation's public id) of the group consultation ``appointment``, or 404."""
    room = appointment.room
    for participant in room.participants if room is not None else []:
        if participant.public_id == participant_id and participant.kind == "patient":
            return participant
    raise NotFound(N_("No such patient in this consultation."))


def record_for_patient(session: Session, staff: Staff, appointment: Appointment, participant: Participant,
                       data: PatientOutcomeSet) -> PatientOutcome:
    """The host's outcome for one patient of a group consultation, after the call (the same checks as
    :func:`record`, whose outcome stays the group's); audited as ``outcome`` with the patient's invitation."""
    from visitt import groups
    from visitt.copayment import day_of, exemptions_on

    access.require(staff, access.Action.manage, appointment)
    if not groups.is_group(appointment):
        raise Conflict(N_("Only a group consultation has an outcome for each patient."), code="not_group")
    if participant.room_id != (appointment.room.id if appointment.room else None) or participant.kind != "patient":
        raise NotFound(N_("No such patient in this consultation."))
    room = appointment.room
    if appointment.state is A.in_progress and room is not None and room.state is not RoomState.ended:
        raise Conflict(N_("The consultation is still going on. Record the outcome when it has ended."),
                       code="in_progress")
    errors: dict[str, str] = {}
    try:
        outcome, reason, note = validate(data, appointment)
    except ValidationFailed as error:
        errors.update(error.fields)
        outcome, reason, note = data.outcome, None, ""
    if "outcome" not in errors and outcome not in PATIENT_OUTCOMES:
        errors["outcome"] = N_("Choose one of these outcomes for a patient in a group: completed, "
                               "technical_failure, continued_by_phone, patient_withdrew, no_show.")
    exemption = data.exemption or None
    if exemption is not None and exemption not in exemptions_on(session, day_of(appointment)):
        errors["exemption"] = N_("Choose an exemption from the list.")
    if errors:
        raise ValidationFailed(N_("The outcome could not be recorded."), fields=errors)
    row = session.scalar(select(PatientOutcome).where(PatientOutcome.participant_id == participant.id))
    if row is None:
        row = PatientOutcome(appointment_id=appointment.id, participant_id=participant.id, participant=participant,
                             outcome=outcome, recorded_by_id=staff.id)
        session.add(row)
    row.outcome, row.failure_reason, row.follow_up, row.note = outcome, reason, data.follow_up, note
    row.exemption, row.recorded_by_id, row.recorded_at = exemption, staff.id, utcnow()
    audit.record(session, f"staff:{staff.id}", "outcome", room_id=participant.room_id,
                 subject=f"participant:{participant.public_id}", outcome=outcome, reason=reason, confirmed=True)
    return row


def patient_rows(session: Session, appointment: Appointment) -> list[tuple[Participant, PatientOutcome | None]]:
    """Each patient of a group consultation (the booked patient's invitation first) with their outcome, if any."""
    rows = {row.participant_id: row for row in session.scalars(
        select(PatientOutcome).where(PatientOutcome.appointment_id == appointment.id))}
    room = appointment.room
    return [(participant, rows.get(participant.id)) for participant in (room.participants if room else [])
            if participant.kind == "patient"]


def patients_public(session: Session, appointment: Appointment) -> list[PatientOutcomePublic]:
    """Each patient of a group consultation with their outcome (``None`` until recorded) and co-payment."""
    from visitt.copayment import copayment_for_patient

    shown = []
    for participant, row in patient_rows(session, appointment):
        decision = copayment_for_patient(session, appointment, row)
        shown.append(PatientOutcomePublic(
            participant=participant.public_id, name=participant.display_name or appointment.patient_name,
            outcome=row.outcome if row else None, failure_reason=row.failure_reason if row else None,
            follow_up=row.follow_up if row else None, copayment_nok=str(decision.amount_nok),
            copayment_exempt=decision.exempt, copayment_reason=decision.reason))
    return shown
