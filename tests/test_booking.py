"""Booking through the JSON API: what is created, what the patient receives, and clear field errors."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from visitt.store import audit
from visitt.web import i18n
from visitt.store.models import Appointment, Participant
from visitt.testing import InProcess

# The patient's invitation SMS, as in visitt/messaging/outbox.py.
OUTBOX_INVITATION = ("Video consultation {date} at {time}. Open the link shortly before: {url} "
                     "Code: {code}. How to prepare: {help} Questions or cannot attend? Call {phone}.")


pytestmark = pytest.mark.in_process  # only HTTP: Visitt in process, without a server (tests/conftest.py)


def _future(days: int = 2) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)).replace(microsecond=0).isoformat()


def _book(server: InProcess, **fields: object) -> httpx.Response:
    body = {"patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": _future(),
            "duration_minutes": 30, **fields}
    return server.post(f"{server.url}/api/v1/appointments", json=body,
                       headers={"Authorization": f"Bearer {server.token}"})


def test_booking_creates_room_invitation_and_sms(pg_server: InProcess) -> None:
    response = _book(pg_server, starts_at="2031-03-04T09:30")
    assert response.status_code == 201, response.text
    body = response.json()
    assert re.fullmatch(r"\d{6}", body["code"])
    token = body["join_url"].rsplit("/v/", 1)[1]
    assert len(token) >= 43  # 256 bits, URL-safe base64
    assert body["join_url"].startswith(pg_server.url + "/v/")

    (sms,) = pg_server.sms()
    assert sms["to"] == "+4741234567"
    assert body["join_url"] in sms["body"]
    assert body["code"] in sms["body"]
    assert "04.03.2031" in sms["body"] and "09:30" in sms["body"]
    assert "+47 69 86 00 00" in sms["body"]  # the department's phone number
    assert "Kari" not in sms["body"]  # no name in an SMS that others may see

    with pg_server.database.session() as session:
        appointment = session.get(Appointment, body["id"])
        assert appointment is not None and appointment.room is not None
        (patient,) = appointment.room.participants
        assert isinstance(patient, Participant) and patient.code == body["code"]
        assert token not in patient.token_hash  # only the hash is stored
        assert [e.action for e in audit.events(session, room_id=appointment.room.id)] == ["booking"]


def test_patient_page_opens_from_the_link(server: InProcess) -> None:
    body = _book(server).json()
    page = server.get(body["join_url"], headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "Your full name" in page.text
    assert "Kari" not in page.text  # the page does not reveal who the appointment is for
    assert "no-referrer" == page.headers["referrer-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    unknown = server.get(f"{server.url}/v/not-a-real-token", headers={"Accept-Language": "en"})
    assert unknown.status_code == 404 and "This link is not valid" in unknown.text


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"patient_phone": "12"}, "patient_phone", "valid phone number"),
        ({"patient_phone": "22 22 22 22"}, "patient_phone", "mobile number"),
        ({"patient_phone": "call me"}, "patient_phone", "mobile number"),
        ({"starts_at": "2020-01-01T10:00"}, "starts_at", "in the future"),
        ({"starts_at": "tomorrow"}, "starts_at", "date and time"),
        ({"patient_name": "   "}, "patient_name", "full name"),
        ({"duration_minutes": 0}, "duration_minutes", "between 5 and 240"),
    ],
)
def test_booking_validation_names_the_field(server: InProcess, fields: dict[str, object], field: str,
                                            text: str) -> None:
    response = _book(server, **fields)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert text in error["fields"][field]
    assert server.sms(wait=0.3) == []


def test_every_language_gets_its_own_sms(server: InProcess) -> None:
    """The SMS opens with the language's own words, whichever of the seven the booking names."""
    bodies = {}
    for count, language in enumerate(i18n.LANGUAGES, start=1):
        response = _book(server, language=language)
        assert response.status_code == 201, response.text
        bodies[language] = body = server.sms(count=count)[-1]["body"]
        opening = i18n.translations(language).gettext(OUTBOX_INVITATION).split("{", 1)[0]
        assert body.startswith(opening), (language, body)
        assert response.json()["join_url"] in body
        assert f"{server.url}/help/{language} " in body  # the help page in the patient's language
    assert "Opne lenka litt før" in bodies["nn"] and "Link do otwarcia" in bodies["pl"]


@pytest.mark.parametrize("language", ["de", "NB", "", "no", "nb-NO"])
def test_a_language_visitt_does_not_have_gets_a_clear_422(server: InProcess, language: str) -> None:
    response = _book(server, language=language)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert "nb, nn, en, ar, pl, so, ur" in error["fields"]["language"]
    other = _book(server, participants=[{"name": "Ivan Petrov", "kind": "interpreter", "phone": "412 34 568",
                                         "language": language}])
    assert other.status_code == 422 and "participants.0.language" in other.json()["error"]["fields"]
    assert server.sms(wait=0.3) == []


def test_booking_reports_every_bad_field_at_once(server: InProcess) -> None:
    response = _book(server, patient_name="", patient_phone="x", starts_at="2020-01-01T00:00")
    assert set(response.json()["error"]["fields"]) == {"patient_name", "patient_phone", "starts_at"}


def test_booking_needs_a_valid_token(server: InProcess) -> None:
    response = server.post(f"{server.url}/api/v1/appointments", json={}, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    missing = server.post(f"{server.url}/api/v1/appointments", json={})
    assert missing.status_code == 401


def test_wrong_types_get_the_same_error_shape(server: InProcess) -> None:
    response = _book(server, duration_minutes="half an hour")
    assert response.status_code == 422
    assert "duration_minutes" in response.json()["error"]["fields"]


def test_openapi_documents_the_booking_endpoint(server: InProcess) -> None:
    spec = server.get(f"{server.url}/openapi.json").json()
    assert "post" in spec["paths"]["/api/v1/appointments"]
