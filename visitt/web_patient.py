"""The patient's page behind the SMS link: device check, name, knock, waiting room and the call."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from .accounts import digest
from .deps import clinic_tz, db_session
from .models import Participant, RoomState
from . import client_text
from .i18n import translations
from .pages import language, render

router = APIRouter(include_in_schema=False)
DB = Annotated[Session, Depends(db_session)]
TZ = Annotated[ZoneInfo, Depends(clinic_tz)]



@router.get("/v/{token}")
def join_page(token: str, request: Request, session: DB, tz: TZ) -> Response:
    participant = session.scalar(select(Participant).where(Participant.token_hash == digest(token)))
    gettext = translations(language(request)).gettext
    if participant is None:
        return render(request, "message.html", status_code=404, title=gettext("This link is not valid"),
                      text=gettext("Check that you opened the whole link from the SMS, or call the clinic."))
    room = participant.room
    if room.state is RoomState.ended:
        return render(request, "message.html", status_code=410, title=gettext("The consultation has ended"),
                      text=gettext("If you need a new appointment, please call the clinic."))
    appointment = room.appointment
    strings = client_text.translate(client_text.PATIENT, gettext)
    department = appointment.department if appointment else None
    phone = department.phone if department and department.phone else request.app.state.settings.clinic_phone
    return render(request, "patient.html", starts_at=appointment.starts_at.astimezone(tz) if appointment else None,
                  strings=strings, clinic_phone=phone)
