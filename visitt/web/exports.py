"""Downloads of the consultations' records: per appointment (staff page, a FHIR Bundle) and a day's batch over
the API (``GET /api/v1/exports/encounters?date=YYYY-MM-DD&format=fhir|csv``), both only of appointments the
caller may manage (:func:`visitt.access.managed_appointments`), each download audited (``export_download``,
with how many records and never whose)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt import access, record_export
from visitt.copayment import copayment_for
from visitt.errors import ValidationFailed
from visitt.ids import RowId
from visitt.store import audit
from visitt.store.models import Appointment, Staff
from visitt.web.deps import DB, api_staff, clinic_tz, page_staff
from visitt.web.i18n import N_

router = APIRouter(tags=["exports"])
FHIR_JSON = "application/fhir+json"
CSV_COLUMNS = ("appointment_id", "external_ref", "national_id", "patient_name", "clinician", "starts_at",
               "started_at", "ended_at", "outcome", "outcome_confirmed", "failure_reason", "follow_up",
               "copayment_nok", "exempt", "exemption", "exemption_reason")


def day_of(text: str) -> dt.date:
    """``YYYY-MM-DD``, or a clear 422."""
    message = N_("Give the date as YYYY-MM-DD, for example 2026-12-04.")
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    raise ValidationFailed(message, code="bad_date", fields={"date": message})


def on_day(session: Session, staff: Staff, day: dt.date, tz: ZoneInfo) -> list[Appointment]:
    """The appointments ``staff`` may manage that start on ``day`` (the clinic's calendar day)."""
    start = dt.datetime.combine(day, dt.time(), tz)
    query = (select(Appointment).where(access.managed_appointments(staff))
             .where(Appointment.starts_at >= start, Appointment.starts_at < start + dt.timedelta(days=1))
             .order_by(Appointment.starts_at, Appointment.id))
    return list(session.scalars(query))


def collection(session: Session, appointments: list[Appointment], public_url: str) -> Bundle:
    """Every record of ``appointments`` in one ``collection`` Bundle (the per-appointment transactions' resources)."""
    entries = []
    for appointment in appointments:
        for entry in record_export.bundle(session, appointment, public_url=public_url).entry or []:
            entries.append(BundleEntry(fullUrl=entry.fullUrl, resource=entry.resource))
    return Bundle(type="collection", entry=entries or None)


def _when(moment: dt.datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def csv_text(session: Session, appointments: list[Appointment]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for appointment in appointments:
        decision = copayment_for(session, appointment)
        patient = appointment.patient
        writer.writerow([appointment.id, appointment.external_ref or "", patient.national_id or "" if patient else "",
                         appointment.patient_name, appointment.clinician.full_name, _when(appointment.starts_at),
                         _when(appointment.started_at), _when(appointment.ended_at), appointment.outcome or "",
                         str(appointment.outcome_confirmed).lower(), appointment.failure_reason or "",
                         "" if appointment.follow_up is None else str(appointment.follow_up).lower(),
                         f"{decision.amount_nok:.2f}", str(decision.exempt).lower(), appointment.exemption or "",
                         appointment.exemption_reason])
    return out.getvalue()


@router.get("/api/v1/exports/encounters", responses={200: {"content": {FHIR_JSON: {}, "text/csv": {}}}})
def encounters(request: Request, session: DB, tz: Annotated[ZoneInfo, Depends(clinic_tz)],
               date: Annotated[str, Query(description="the clinic's calendar day, YYYY-MM-DD")],
               format: Literal["fhir", "csv"] = "fhir") -> Response:
    """The day's consultation records the caller may manage: a FHIR R4 ``collection`` Bundle, or CSV."""
    staff = api_staff(request, session)
    day = day_of(date)
    found = on_day(session, staff, day, tz)
    audit.record(session, f"staff:{staff.id}", "export_download", subject=f"day:{day.isoformat()}", format=format,
                 records=len(found))
    if format == "csv":
        body = csv_text(session, found)
        session.commit()
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="encounters-{day.isoformat()}.csv"'})
    body = record_export.to_json(collection(session, found, request.app.state.settings.public_url))
    session.commit()
    return Response(body, media_type=FHIR_JSON)


@router.get("/staff/appointments/{appointment_id}/record.json")
def appointment_record(appointment_id: RowId, request: Request, session: DB) -> Response:
    """One appointment's record as its FHIR R4 transaction Bundle, downloaded from its staff page."""
    staff = page_staff(request, session)
    appointment = access.appointment(session, staff, appointment_id)
    body = record_export.to_json(record_export.bundle(session, appointment,
                                                      public_url=request.app.state.settings.public_url))
    audit.record(session, f"staff:{staff.id}", "export_download", subject=f"appointment:{appointment.id}",
                 format="fhir", records=1)
    session.commit()
    return Response(body, media_type=FHIR_JSON, headers={
        "content-disposition": f'attachment; filename="consultation-{appointment.id}.fhir.json"'})
