"""Downloads of the consultation's record and its journal note: the day's batch over the API (FHIR and CSV,
only appointments the caller may manage, a bad date a clear 422), one appointment's Bundle from its page,
and the journal note on the appointment page after the call."""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from visitt import accounts, demo
from visitt.store import audit
from visitt.store.models import (
    Appointment,
    ConsentEvent,
    IdentityCheck,
    IdentityMethod,
    ParticipantState,
    Patient,
    RoomState,
)
from visitt.testing import InProcess

from .peers import book, staff_login

pytestmark = pytest.mark.in_process
OSLO = ZoneInfo("Europe/Oslo")


def finished(server: InProcess, *, days: int = 2) -> Appointment:
    """A booked consultation of the first demo clinician that took place: patient in the call, ID checked,
    consent given, outcome recorded (as the outcome dialog would)."""
    book(server, "Kari Nordmann", days=days)
    with server.database.session() as session:
        appointment = session.scalars(select(Appointment).order_by(Appointment.id.desc())).first()
        assert appointment is not None and appointment.room is not None
        patient = Patient(national_id="01017012345", phone="+4741234567", name="Kari Nordmann")
        session.add(patient)
        session.flush()
        appointment.patient_id = patient.id
        appointment.started_at = appointment.starts_at + dt.timedelta(minutes=1)
        appointment.ended_at = appointment.starts_at + dt.timedelta(minutes=16)
        appointment.outcome, appointment.outcome_confirmed, appointment.follow_up = "completed", True, True
        appointment.room.state = RoomState.ended
        (guest,) = appointment.room.participants
        guest.state = ParticipantState.left
        session.add(IdentityCheck(room_id=appointment.room.id, participant_id=guest.id,
                                  method=IdentityMethod.photo_id, checked_by_id=appointment.clinician_id))
        session.add(ConsentEvent(patient_id=patient.id, appointment_id=appointment.id, kind="given",
                                 at=appointment.started_at, text_version="2026-1", language="nb",
                                 recorded_by="patient", how="knock"))
        session.commit()
        session.refresh(appointment)
        session.expunge(appointment)
        return appointment


def day(appointment: Appointment) -> str:
    return appointment.starts_at.astimezone(OSLO).date().isoformat()


def test_the_days_records_as_fhir_and_csv(server: InProcess) -> None:
    appointment = finished(server)
    book(server, "Per Olsen", days=5)  # another day: not in the batch
    fhir = server.get(f"{server.url}/api/v1/exports/encounters", params={"date": day(appointment)},
                      headers={"Authorization": f"Bearer {server.token}"})
    assert fhir.status_code == 200 and fhir.headers["content-type"] == "application/fhir+json"
    bundle = Bundle.model_validate_json(fhir.content)  # parsed strictly by the same library
    assert bundle.type == "collection"
    kinds = [entry.resource.get_resource_type() for entry in bundle.entry or []]
    assert kinds == ["Encounter", "Consent", "ChargeItem", "DocumentReference"]  # the last: the journal note

    table = server.get(f"{server.url}/api/v1/exports/encounters", params={"date": day(appointment), "format": "csv"},
                       headers={"Authorization": f"Bearer {server.token}"})
    assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(table.text)))
    assert (row["appointment_id"], row["national_id"], row["outcome"]) == (str(appointment.id), "01017012345",
                                                                           "completed")
    assert (row["copayment_nok"], row["exempt"], row["follow_up"]) == ("375.00", "false", "true")
    with server.database.session() as session:
        downloads = audit.events(session, action="export_download")
        assert [event.detail for event in downloads] == [{"format": "fhir", "records": 1},
                                                         {"format": "csv", "records": 1}]


def test_another_clinician_gets_none_of_them(server: InProcess) -> None:
    appointment = finished(server)
    with server.database.session() as session:
        token = accounts.create_api_token(session, demo.PEOPLE[1][0])
        session.commit()
    table = server.get(f"{server.url}/api/v1/exports/encounters", params={"date": day(appointment), "format": "csv"},
                       headers={"Authorization": f"Bearer {token}"})
    assert table.status_code == 200 and list(csv.DictReader(io.StringIO(table.text))) == []
    cookie = staff_login(server, demo.PEOPLE[1][0])
    mine = server.get(f"{server.url}/staff/appointments/{appointment.id}/record.json",
                      cookies={"visitt_session": cookie})
    assert mine.status_code == 404


def test_a_bad_date_is_a_clear_422(server: InProcess) -> None:
    for date in ("04.12.2026", "2026-13-01", "", "2026-1-4", "20261204"):
        response = server.get(f"{server.url}/api/v1/exports/encounters", params={"date": date},
                              headers={"Authorization": f"Bearer {server.token}"})
        assert response.status_code == 422, date
        assert response.json()["error"]["code"] == "bad_date", date
        assert "YYYY-MM-DD" in response.json()["error"]["message"]
    with server.database.session() as session:  # nothing was downloaded
        assert audit.events(session, action="export_download") == []


def test_the_appointment_page_has_the_journal_note_and_the_record(server: InProcess) -> None:
    appointment = finished(server)
    cookie = staff_login(server)
    page = server.get(f"{server.url}/staff/appointments/{appointment.id}", cookies={"visitt_session": cookie},
                      headers={"accept-language": "en"})
    assert page.status_code == 200
    assert "Journal note" in page.text and 'id="copy-journal"' in page.text
    assert "Participants: Dr. Ingrid Berg (clinician), Kari Nordmann (patient)." in page.text
    assert "Identity checked: Kari Nordmann: Photo ID shown on camera." in page.text
    assert "Interpreter: none." in page.text and "Outcome: Completed." in page.text
    assert "Follow-up: agreed." in page.text and "(15 minutes)" in page.text
    record = server.get(f"{server.url}/staff/appointments/{appointment.id}/record.json",
                        cookies={"visitt_session": cookie})
    assert record.status_code == 200
    assert Bundle.model_validate_json(record.content).type == "transaction"

    norwegian = server.get(f"{server.url}/staff/appointments/{appointment.id}", cookies={"visitt_session": cookie},
                           headers={"accept-language": "nb"})
    assert "Journalnotat" in norwegian.text and "Oppfølging: avtalt." in norwegian.text
