"""The JSON API under ``/api/v1``, authenticated with ``Authorization: Bearer <token>``."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import booking
from .deps import api_staff, base_url, clinic_tz, db_session
from .models import Appointment, Role

router = APIRouter(prefix="/api/v1", tags=["appointments"])
DB = Annotated[Session, Depends(db_session)]
TZ = Annotated[ZoneInfo, Depends(clinic_tz)]


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: dict[str, str] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


ERRORS = {status: {"model": ErrorResponse} for status in (401, 403, 422)}


@router.post("/appointments", status_code=201, response_model=booking.AppointmentPublic, responses=ERRORS)
def create_appointment(data: booking.AppointmentCreate, request: Request, session: DB,
                       tz: TZ) -> booking.AppointmentPublic:
    """Book a video consultation: creates the room and the invitation and queues the SMS."""
    staff = api_staff(request, session)
    validated = booking.validate(session, staff, data, tz=tz, region=request.app.state.settings.default_region)
    appointment, join_url, code = booking.book(session, staff, validated, base_url=base_url(request),
                                               clinic_phone=request.app.state.settings.clinic_phone, tz=tz)
    session.commit()
    request.app.state.sender.wakeup.set()
    return booking.AppointmentPublic(id=appointment.id, starts_at=appointment.starts_at,
                                     duration_minutes=appointment.duration_minutes,
                                     clinician=validated.clinician.full_name, state=appointment.state.value,
                                     join_url=join_url, code=code)


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
    query = select(Appointment).order_by(Appointment.starts_at)
    if staff.role is Role.clinician:
        query = query.where(Appointment.clinician_id == staff.id)
    elif staff.role is Role.secretary:
        query = query.where(Appointment.department_id == staff.department_id)
    return [AppointmentSummary(id=a.id, starts_at=a.starts_at.isoformat(), duration_minutes=a.duration_minutes,
                               clinician_id=a.clinician_id, state=a.state.value) for a in session.scalars(query)]
