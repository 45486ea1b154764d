"""The JSON API under ``/api/v1``, authenticated with ``Authorization: Bearer <token>``."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt import access, appointments, booking, groups, invites, outcomes
from visitt.messaging import fhir
from visitt.web.deps import DB, api_staff, app_limiter, base_url, clinic_tz
from visitt.ids import RowId
from visitt.store.models import Appointment, Staff

router = APIRouter(prefix="/api/v1", tags=["appointments"])
TZ = Annotated[ZoneInfo, Depends(clinic_tz)]


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: dict[str, str] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorResponse} for status in (401, 403, 422)}


@router.post("/appointments", status_code=201, response_model=booking.AppointmentPublic, responses=ERRORS)
def create_appointment(data: booking.AppointmentCreate, request: Request, session: DB,
                       tz: TZ) -> booking.AppointmentPublic:
    """Book a video consultation: creates the room and the invitation and queues the SMS (and the e-mail
    with a calendar file, when ``patient_email`` is given)."""
    staff = api_staff(request, session)
    settings = request.app.state.settings
    validated = booking.validate(session, staff, data, tz=tz, region=settings.default_region,
                                 max_participants=settings.max_participants,
                                 max_group=settings.max_group_participants, grows=groups.grows(settings))
    if validated.needs_media_server:  # its call needs Janus: say so now, to the one booking, not later in the call
        groups.ask_before_booking(validated, settings)
    appointment, join_url, code = booking.book(session, staff, validated, base_url=base_url(request),
                                               clinic_phone=settings.clinic_phone, tz=tz, limiter=app_limiter(request))
    invited = [invites.create(session, staff, appointment.room, invite, base_url=base_url(request),
                              clinic_phone=settings.clinic_phone, tz=tz,
                              max_participants=groups.invitations(appointment, settings), limiter=app_limiter(request),
                              growth=groups.growth(appointment, settings, answered=validated.past_mesh))
               for invite in validated.invites]
    session.commit()
    request.app.state.sender.wakeup.set()
    return booking.AppointmentPublic(id=appointment.id, starts_at=appointment.starts_at,
                                     duration_minutes=appointment.duration_minutes,
                                     clinician=validated.clinician.full_name, state=appointment.state.value,
                                     join_url=join_url, code=code,
                                     participants=[invitation.public() for invitation in invited],
                                     warnings=booking.warnings(appointment))


class AppointmentSummary(BaseModel):
    id: int
    starts_at: str
    duration_minutes: int
    clinician_id: int
    state: str


@router.get("/appointments", response_model=list[AppointmentSummary], responses=ERRORS)
def list_appointments(request: Request, session: DB) -> list[AppointmentSummary]:
    """Appointments the caller hosts (clinicians) or may book for (secretaries, admins)."""
    staff = api_staff(request, session)
    query = select(Appointment).where(access.managed_appointments(staff)).order_by(Appointment.starts_at)
    return [AppointmentSummary(id=a.id, starts_at=a.starts_at.isoformat(), duration_minutes=a.duration_minutes,
                               clinician_id=a.clinician_id, state=a.state.value) for a in session.scalars(query)]


def _managed(request: Request, session: Session, appointment_id: int) -> tuple[Staff, Appointment]:
    staff = api_staff(request, session)
    return staff, access.appointment(session, staff, appointment_id)


def _summary(appointment: Appointment) -> AppointmentSummary:
    return AppointmentSummary(id=appointment.id, starts_at=appointment.starts_at.isoformat(),
                              duration_minutes=appointment.duration_minutes, clinician_id=appointment.clinician_id,
                              state=appointment.state.value)


@router.patch("/appointments/{appointment_id}", response_model=AppointmentSummary,
              responses={**ERRORS, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def move_appointment(appointment_id: RowId, change: appointments.AppointmentMove, request: Request, session: DB,
                           tz: TZ) -> AppointmentSummary:
    """Move a booked appointment to a new time; the patient gets an SMS (and an updated calendar event by
    e-mail, if booked with an address); the link and code stay."""
    staff, appointment = _managed(request, session, appointment_id)
    appointments.move(session, appointment, change, staff=staff, tz=tz,
                      clinic_phone=request.app.state.settings.clinic_phone, base_url=base_url(request),
                      limiter=app_limiter(request))
    session.commit()
    request.app.state.sender.wakeup.set()
    return _summary(appointment)


@router.post("/appointments/{appointment_id}/cancel", response_model=AppointmentSummary,
             responses={**ERRORS, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def cancel_appointment(appointment_id: RowId, request: Request, session: DB, tz: TZ) -> AppointmentSummary:
    """Cancel an appointment; the patient gets an SMS (and a calendar cancellation by e-mail, if booked with
    an address); the link then says it was cancelled."""
    staff, appointment = _managed(request, session, appointment_id)
    appointments.cancel(session, appointment, staff=staff, tz=tz,
                        clinic_phone=request.app.state.settings.clinic_phone, base_url=base_url(request),
                        limiter=app_limiter(request))
    session.commit()
    request.app.state.sender.wakeup.set()
    if appointment.room is not None:
        room = appointment.room
        await request.app.state.cluster.room_ended(room.host_id, room.public_id, "cancelled")
    return _summary(appointment)


@router.post("/appointments/{appointment_id}/participants", status_code=201, response_model=invites.InvitePublic,
             responses={**ERRORS, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
def invite_participant(appointment_id: RowId, data: invites.InviteCreate, request: Request, session: DB,
                       tz: TZ) -> invites.InvitePublic:
    """Invite a companion, an interpreter or a colleague: they get their own SMS with a link and a code,
    and wait in the waiting room like the patient. Also during the consultation."""
    staff, appointment = _managed(request, session, appointment_id)
    settings = request.app.state.settings
    kinds = invites.GROUP_KINDS if groups.is_group(appointment) else invites.KINDS
    invite = invites.validate(session, data, region=settings.default_region, kinds=kinds)
    invitation = invites.create(session, staff, appointment.room, invite, base_url=base_url(request),
                                clinic_phone=settings.clinic_phone, tz=tz,
                                max_participants=groups.invitations(appointment, settings),
                                limiter=app_limiter(request),
                                growth=groups.growth(appointment, settings))
    session.commit()
    request.app.state.sender.wakeup.set()
    return invitation.public()


@router.put("/appointments/{appointment_id}/patients/{participant_id}/outcome",
            response_model=list[outcomes.PatientOutcomePublic],
            responses={**ERRORS, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
def record_patient_outcome(appointment_id: RowId, participant_id: str, data: outcomes.PatientOutcomeSet,
                           request: Request, session: DB) -> list[outcomes.PatientOutcomePublic]:
    """In a group consultation that has ended: one patient's outcome, co-payment exemption, follow-up and
    note, recorded separately for each patient (``participant_id``: their invitation's id). Returns every
    patient's outcome and co-payment."""
    staff, appointment = _managed(request, session, appointment_id)
    participant = outcomes.group_patient(appointment, participant_id)
    outcomes.record_for_patient(session, staff, appointment, participant, data)
    fhir.export_on_outcome(session, appointment, request.app.state.settings)  # each patient's record, theirs new
    session.commit()
    request.app.state.sender.wakeup.set()
    return outcomes.patients_public(session, appointment)


@router.get("/appointments/{appointment_id}/patients/outcomes", response_model=list[outcomes.PatientOutcomePublic],
            responses={**ERRORS, 404: {"model": ErrorResponse}})
def patient_outcomes(appointment_id: RowId, request: Request, session: DB) -> list[outcomes.PatientOutcomePublic]:
    """Each patient of a group consultation with their own outcome and co-payment."""
    _staff, appointment = _managed(request, session, appointment_id)
    return outcomes.patients_public(session, appointment)


@router.post("/appointments/{appointment_id}/outcome", response_model=outcomes.OutcomePublic,
             responses={**ERRORS, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def record_outcome(appointment_id: RowId, data: outcomes.OutcomeSet, request: Request,
                         session: DB) -> outcomes.OutcomePublic:
    """Record what happened in a consultation that has ended (or never began): the outcome, what failed
    for a technical failure, whether follow-up was agreed and a short note. The answer carries the
    co-payment decision that follows (docs/record.md)."""
    staff, appointment = _managed(request, session, appointment_id)
    ended = outcomes.record(session, staff, appointment, data)
    fhir.export_on_outcome(session, appointment, request.app.state.settings)  # the record, with the outcome
    session.commit()
    request.app.state.sender.wakeup.set()
    if ended and appointment.room is not None:
        room = appointment.room
        await request.app.state.cluster.room_ended(room.host_id, room.public_id, "no_show")
    return outcomes.public(session, appointment)
