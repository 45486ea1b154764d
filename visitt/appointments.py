"""After booking: moving and cancelling an appointment, each with an SMS to the patient (and an
e-mail with the updated or cancelled calendar event, if the patient gave an address).

Moving keeps the link and the code (the patient's page shows the new time); cancelling ends the
room, so the link and the code then say the consultation was cancelled and whom to call.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from visitt import access
from visitt.store import audit
from visitt.messaging import mail, outbox
from visitt.booking import MAX_DURATION, MIN_DURATION, parse_start
from visitt.errors import Conflict, ValidationFailed
from visitt.web.i18n import N_, translations
from visitt.limiter import Limiter
from visitt.store.models import Appointment, AppointmentState, RoomState, Staff, utcnow
from visitt.rooms import check_appointment_move, move_room


class AppointmentMove(BaseModel):
    """A new time; ``starts_at`` is ISO 8601, without an offset the clinic's local time."""

    starts_at: str = Field("", examples=["2026-12-02T10:00"])
    duration_minutes: int | None = Field(None, description=f"{MIN_DURATION}–{MAX_DURATION} minutes; unchanged if absent.")


def _phone(appointment: Appointment, clinic_phone: str) -> str:
    department = appointment.department
    return department.phone if department and department.phone else clinic_phone


def _code(appointment: Appointment) -> str:
    room = appointment.room
    patients = [p for p in room.participants if p.kind == "patient"] if room is not None else []
    return patients[0].code if patients else ""


def move(session: Session, appointment: Appointment, change: AppointmentMove, *, staff: Staff, tz: ZoneInfo,
         clinic_phone: str, base_url: str = "", now: dt.datetime | None = None, limiter: Limiter | None = None) -> None:
    """Give the appointment a new time, queue the SMS that says so, and audit it."""
    access.require(staff, access.Action.manage, appointment)
    if appointment.state is not AppointmentState.booked:
        raise Conflict(N_("Only a booked appointment can be moved."), code="illegal_transition")
    errors: dict[str, str] = {}
    starts_at = parse_start(change.starts_at, tz, now or utcnow(), errors)
    duration = appointment.duration_minutes if change.duration_minutes is None else change.duration_minutes
    if not MIN_DURATION <= duration <= MAX_DURATION:
        errors["duration_minutes"] = N_("Choose between 5 and 240 minutes.")
    if errors or starts_at is None:
        raise ValidationFailed(N_("The appointment could not be moved."), fields=errors)
    appointment.starts_at, appointment.duration_minutes = starts_at, duration
    appointment.reminder_at = None  # a reminder for the new time
    _ = translations(appointment.language).gettext
    local = starts_at.astimezone(tz)
    body = _("Your video consultation has been moved to {date} at {time}. Use the same link and code as before. "
             "Questions? Call {phone}.").format(date=local.strftime("%d.%m.%Y"), time=local.strftime("%H:%M"),
                                               phone=_phone(appointment, clinic_phone))
    outbox.enqueue(session, recipient=appointment.patient_phone, body=body, appointment_id=appointment.id,
                   limiter=limiter, sender=staff.id)
    mail.queue(session, appointment, "update", code=_code(appointment), phone=_phone(appointment, clinic_phone),
               address=base_url)
    audit.record(session, f"staff:{staff.id}", "move", room_id=appointment.room.id if appointment.room else None,
                 subject=f"appointment:{appointment.id}")


def cancel(session: Session, appointment: Appointment, *, staff: Staff, tz: ZoneInfo, clinic_phone: str,
           base_url: str = "", limiter: Limiter | None = None) -> None:
    """Cancel the appointment and end its room; queue the SMS that says so, and audit it."""
    access.require(staff, access.Action.manage, appointment)
    check_appointment_move(appointment.state, AppointmentState.cancelled)
    appointment.state = AppointmentState.cancelled
    room = appointment.room
    if room is not None and room.state is not RoomState.ended:
        move_room(session, room.id, RoomState.ended, actor=f"staff:{staff.id}", action="end", reason="cancelled")
    _ = translations(appointment.language).gettext
    local = appointment.starts_at.astimezone(tz)
    body = _("Your video consultation on {date} at {time} has been cancelled. Questions? Call {phone}.").format(
        date=local.strftime("%d.%m.%Y"), time=local.strftime("%H:%M"), phone=_phone(appointment, clinic_phone))
    outbox.enqueue(session, recipient=appointment.patient_phone, body=body, appointment_id=appointment.id,
                   limiter=limiter, sender=staff.id)
    mail.queue(session, appointment, "cancel", code=_code(appointment), phone=_phone(appointment, clinic_phone),
               address=base_url)
    audit.record(session, f"staff:{staff.id}", "cancel", room_id=room.id if room else None,
                 subject=f"appointment:{appointment.id}")
