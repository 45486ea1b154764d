"""The consultation's record through the API and the staff pages (issue 19 §1–§3): the patient with their
national identity number and the hospital's reference, the video-suitability confirmation, exemptions,
withdrawal by phone and the warning it leaves, and the outcome with its co-payment; bad input refused with
a clear error, changing nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from visitt import accounts, demo
from visitt.store.models import Appointment, AuditEvent, ConsentEvent, OutboxMessage, Patient, RoomState
from visitt.testing import InProcess

from .peers import staff_login

pytestmark = pytest.mark.in_process

NATIONAL_ID = "15058545640"  # a valid fødselsnummer (control digits by python-stdnum), nobody's
D_NUMBER = "41019012393"


def _future(days: int = 2) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)).replace(microsecond=0).isoformat()


def _book(server: InProcess, token: str | None = None, **fields: object) -> httpx.Response:
    body = {"patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": _future(),
            "duration_minutes": 30, "video_suitable_confirmed": True, **fields}
    return server.post(f"{server.url}/api/v1/appointments", json=body,
                       headers={"Authorization": f"Bearer {token or server.token}"})


def _outcome(server: InProcess, appointment_id: int, token: str | None = None, **body: Any) -> httpx.Response:
    return server.post(f"{server.url}/api/v1/appointments/{appointment_id}/outcome", json=body,
                       headers={"Authorization": f"Bearer {token or server.token}"})


def _counts(server: InProcess) -> tuple[int, ...]:
    with server.database.session() as session:
        return tuple(session.scalar(select(func.count()).select_from(table))  # type: ignore[arg-type]
                     for table in (Appointment, Patient, OutboxMessage, ConsentEvent, AuditEvent))


def test_the_patient_is_a_record_matched_by_national_id_and_kept_out_of_sms_and_audit(pg_server: InProcess) -> None:
    first = _book(pg_server, national_id="150585 45640", external_ref="DIPS-2026-0042", exemption="pregnancy")
    assert first.status_code == 201, first.text
    assert first.json()["warnings"] == []
    # the same person booked again from another phone: the same patient; a D-number is accepted too
    again = _book(pg_server, national_id=NATIONAL_ID, patient_phone="998 87 766", patient_name="Kari N. Nordmann")
    other = _book(pg_server, national_id=D_NUMBER, patient_name="Ola Nordmann", patient_phone="412 00 000")
    assert again.status_code == 201 and other.status_code == 201, (again.text, other.text)
    with pg_server.database.session() as session:
        first_row = session.get(Appointment, first.json()["id"])
        again_row = session.get(Appointment, again.json()["id"])
        assert first_row is not None and again_row is not None and first_row.patient is not None
        assert first_row.patient_id == again_row.patient_id
        assert first_row.patient.national_id == NATIONAL_ID and first_row.patient.phone == "+4799887766"
        assert first_row.external_ref == "DIPS-2026-0042" and first_row.exemption == "pregnancy"
        assert first_row.video_suitable_confirmed
        assert session.scalar(select(func.count(Patient.id))) == 2
        sms = [message.body for message in session.scalars(select(OutboxMessage))]
        details = [str(event.detail) + event.subject for event in session.scalars(select(AuditEvent))]
    assert sms and not any(NATIONAL_ID in body or D_NUMBER in body or "DIPS" in body for body in sms)
    assert not any(NATIONAL_ID in text or D_NUMBER in text for text in details)
    assert NATIONAL_ID not in first.text and "national_id" not in first.json()
    page = pg_server.get(first.json()["join_url"])
    assert page.status_code == 200 and NATIONAL_ID not in page.text and "DIPS" not in page.text


def test_bad_booking_input_gets_a_clear_error_and_changes_nothing(pg_server: InProcess) -> None:
    before = _counts(pg_server)
    for fields, field, words in (
            ({"national_id": "15058545641"}, "national_id", "11-digit national identity number"),
            ({"exemption": "student"}, "exemption", "frikort, child_under_16"),
            ({"exemption": "other"}, "exemption_reason", "Say why"),
            ({"video_suitable_confirmed": False}, "video_suitable_confirmed", "clinically suitable"),
            ({"external_ref": "x" * 65}, "external_ref", "64 characters")):
        response = _book(pg_server, **fields)
        assert response.status_code == 422, (fields, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_failed" and words in error["fields"][field], (fields, error)
    assert _counts(pg_server) == before


def test_an_outcome_is_refused_to_another_clinician_and_for_what_cannot_be(pg_server: InProcess) -> None:
    booked = _book(pg_server).json()
    with pg_server.database.session() as session:
        stranger = accounts.create_api_token(session, demo.PEOPLE[1][0])  # same department, not their patient
        session.commit()
    before = _counts(pg_server)
    refused = _outcome(pg_server, booked["id"], stranger, outcome="no_show")
    assert refused.status_code == 404 and refused.json()["error"]["message"] == "No such appointment."
    for body, field, words in (
            ({"outcome": "finished"}, "outcome", "Choose one of these outcomes"),
            ({"outcome": "technical_failure"}, "failure_reason", "no_connection, poor_media or dropped"),
            ({"outcome": "completed", "failure_reason": "dropped"}, "failure_reason", "only with a technical failure"),
            # nobody ever got in: media never flowed, so it cannot be completed
            ({"outcome": "completed"}, "outcome", "cannot be recorded as completed")):
        response = _outcome(pg_server, booked["id"], **body)
        assert response.status_code == 422, (body, response.text)
        assert words in response.json()["error"]["fields"][field], (body, response.json())
    assert _outcome(pg_server, booked["id"], outcome="cancelled").json()["error"]["code"] == "illegal_transition"
    assert _counts(pg_server) == before
    with pg_server.database.session() as session:
        row = session.get(Appointment, booked["id"])
        assert row is not None and row.outcome is None and row.state.value == "booked"


def test_a_patient_who_never_got_in_is_a_technical_failure_with_no_copayment(pg_server: InProcess) -> None:
    booked = _book(pg_server).json()
    answer = _outcome(pg_server, booked["id"], outcome="technical_failure", failure_reason="no_connection",
                      follow_up=True, note="Ringt opp, ny time sendt.")
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"id": 0} == {
        "id": 0, "state": "technical_failure", "outcome": "technical_failure", "failure_reason": "no_connection",
        "outcome_confirmed": True, "follow_up": True, "media_flowed": False, "copayment_nok": "0.00",
        "copayment_exempt": True, "copayment_reason": "technical_failure"}
    with pg_server.database.session() as session:
        row = session.get(Appointment, booked["id"])
        assert row is not None and row.room.state is RoomState.ended and row.outcome_note == "Ringt opp, ny time sendt."
        assert row.outcome_by_id is not None and row.outcome_at is not None
    assert pg_server.get(booked["join_url"]).status_code == 410  # the link leads nowhere now


def test_withdrawal_by_phone_is_recorded_by_staff_and_warns_the_next_booking(pg_server: InProcess) -> None:
    booked = _book(pg_server, national_id=NATIONAL_ID).json()
    cookie = staff_login(pg_server, demo.PEOPLE[2][0])  # the department's secretary takes the call
    with pg_server.client(cookies={"visitt_session": cookie}, headers={"Accept-Language": "en"}) as http:
        http.get(f"/staff/appointments/{booked['id']}")
        response = http.post(f"/staff/appointments/{booked['id']}/withdraw",
                             data={"csrf": http.cookies["visitt_csrf"], "how": "phone_to_secretary"})
        assert response.status_code == 303, response.text
        page = http.get(response.headers["location"])
        assert "The withdrawal is recorded" in page.text and "Patient withdrew from video" in page.text
        assert "suggested by Visitt, not confirmed" in page.text
        assert "Outcomes to confirm" in http.get("/staff").text
    with pg_server.database.session() as session:
        row = session.get(Appointment, booked["id"])
        assert row is not None and row.patient is not None and row.patient.withdrew_video_at is not None
        assert row.state.value == "cancelled" and row.outcome == "patient_withdrew" and not row.outcome_confirmed
        (event,) = session.scalars(select(ConsentEvent))
        assert (event.kind, event.recorded_by, event.how, event.staff_id) == (
            "withdrawn", "staff", "phone_to_secretary", row.outcome_by_id or event.staff_id)
        assert event.staff_id is not None
        assert [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "withdraw"))] \
            == ["withdraw"]
    later = _book(pg_server, national_id=NATIONAL_ID, patient_phone="998 87 766")
    assert later.status_code == 201 and "do not want video" in later.json()["warnings"][0]["message"]


def test_the_booking_form_takes_the_record_fields(pg_server: InProcess) -> None:
    cookie = staff_login(pg_server)
    starts = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)
    with pg_server.client(cookies={"visitt_session": cookie}, headers={"Accept-Language": "en"}) as http:
        form = http.get("/staff/book")
        assert "Video is clinically suitable for this consultation." in form.text
        fields = {"csrf": http.cookies["visitt_csrf"], "patient_name": "Kari Nordmann", "patient_phone": "412 34 567",
                  "date": starts.date().isoformat(), "time": "10:00", "duration_minutes": "30", "language": "nb",
                  "national_id": "1505854564", "external_ref": "", "exemption": "", "video_suitable_confirmed": "yes"}
        refused = http.post("/staff/book", data=fields)
        assert refused.status_code == 422 and "11-digit national identity number" in refused.text
        booked = http.post("/staff/book", data={**fields, "national_id": NATIONAL_ID, "exemption": "frikort"})
        assert booked.status_code == 303, booked.text
    with pg_server.database.session() as session:
        (row,) = session.scalars(select(Appointment))
        assert row.patient is not None and row.patient.national_id == NATIONAL_ID
        assert row.exemption == "frikort" and row.video_suitable_confirmed
