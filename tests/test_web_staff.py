"""Staff pages through HTTP (in process): sign-in, CSRF, booking form errors, who may book for whom, sign-out."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from visitt import accounts, demo
from visitt.store import audit
from visitt.web import i18n
from visitt.store.models import Department, Role
from visitt.testing import Client, InProcess


pytestmark = pytest.mark.in_process  # only HTTP: Visitt in process, without a server (tests/conftest.py)


def _client(server: InProcess) -> Client:
    return server.client(headers={"Accept-Language": "en"}, follow_redirects=False)


def _csrf(client: httpx.Client, path: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert match
    return match.group(1)


def _sign_in(client: httpx.Client, email: str = demo.PEOPLE[0][0]) -> None:
    response = client.post("/staff/login", data={"email": email, "password": demo.PASSWORD,
                                                 "csrf": _csrf(client, "/staff/login")})
    assert response.status_code == 303 and response.headers["location"] == "/staff"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_sign_in_wrong_password_and_csrf(server: InProcess) -> None:
    with _client(server) as client:
        assert client.get("/staff").status_code == 303  # to the sign-in page
        token = _csrf(client, "/staff/login")
        wrong = client.post("/staff/login", data={"email": demo.PEOPLE[0][0], "password": "guess", "csrf": token})
        assert wrong.status_code == 401 and "Wrong e-mail address or password." in wrong.text
        forged = client.post("/staff/login", data={"email": demo.PEOPLE[0][0], "password": demo.PASSWORD,
                                                   "csrf": "forged"})
        assert forged.status_code == 403 and "The form has expired" in forged.text
        _sign_in(client)
        assert "Dr. Ingrid Berg" in client.get("/staff").text
        client.post("/staff/logout", data={"csrf": _csrf(client, "/staff")})
        assert client.get("/staff").status_code == 303
    with server.database.session() as session:
        actions = [event.action for event in audit.events(session) if event.action.startswith("log")]
    assert actions == ["login_failed", "login", "logout"]


def test_booking_form_shows_field_errors_and_keeps_input(server: InProcess) -> None:
    with _client(server) as client:
        _sign_in(client)
        csrf = _csrf(client, "/staff/book")
        page = client.post("/staff/book", data={"csrf": csrf, "patient_name": "Kari Nordmann",
                                                "patient_phone": "123", "date": "2020-01-01", "time": "09:00",
                                                "duration_minutes": "30"})
        assert page.status_code == 422
        assert "This is not a valid phone number." in page.text
        assert "Choose a time in the future." in page.text
        assert 'value="Kari Nordmann"' in page.text
        assert server.sms(wait=0.3) == []


def test_booking_form_offers_every_language_and_refuses_others(server: InProcess) -> None:
    with _client(server) as client:
        _sign_in(client)
        form = client.get("/staff/book").text
        select = form.split('id="language"', 1)[1].split("</select>", 1)[0]
        offered = re.findall(r'<option value="(\w+)" lang="\1"[^>]*>([^<]+)</option>', select)
        assert offered == list(i18n.LANGUAGES.items())
        tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
        fields = {"patient_name": "Jan Kowalski", "patient_phone": "412 34 567", "date": tomorrow, "time": "09:00",
                  "duration_minutes": "30"}
        refused = client.post("/staff/book", data={**fields, "csrf": _csrf(client, "/staff/book"), "language": "de"})
        assert refused.status_code == 422
        assert "Choose one of these languages: nb, nn, en, ar, pl, so, ur." in refused.text
        booked = client.post("/staff/book", data={**fields, "csrf": _csrf(client, "/staff/book"), "language": "pl"})
        assert booked.status_code == 303
    (sms,) = server.sms()
    assert sms["body"].startswith("Wideokonsultacja ") and "Link do otwarcia" in sms["body"]


def test_secretary_books_for_clinicians_of_her_department_only(server: InProcess) -> None:
    with server.database.session() as session:
        other = accounts.create_staff(session, email="annen@example.no", full_name="Annen Lege",
                                      role=Role.clinician, password="a long password",
                                      department=Department(name="Ortopedi"))
        other_id = other.id
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    with _client(server) as client:
        _sign_in(client, demo.PEOPLE[2][0])  # the secretary
        form = client.get("/staff/book").text
        assert "Dr. Ingrid Berg" in form and "Ola Hansen" in form and "Annen Lege" not in form
        csrf = _csrf(client, "/staff/book")
        fields = {"csrf": csrf, "patient_name": "Kari Nordmann", "patient_phone": "41234567", "date": tomorrow,
                  "time": "11:00", "duration_minutes": "45"}
        refused = client.post("/staff/book", data={**fields, "clinician_id": str(other_id)})
        assert refused.status_code == 403
        booked = client.post("/staff/book", data={**fields, "clinician_id": re.search(
            r'<option value="(\d+)"[^>]*>Ola Hansen', form).group(1)})  # type: ignore[union-attr]
        assert booked.status_code == 303
        dashboard = client.get(booked.headers["location"]).text
        assert "Kari Nordmann" in dashboard and "Ola Hansen" in dashboard
    assert len(server.sms()) == 1


def test_outbox_page_exists_only_in_demo_mode(server: InProcess) -> None:
    with _client(server) as client:
        _sign_in(client)
        assert client.get("/staff/outbox").status_code == 403


def test_unknown_paths_use_the_error_shape(server: InProcess) -> None:
    response = server.get(f"{server.url}/api/v1/nothing")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found"}}


def test_demo_outbox_page_lists_the_sms(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from .conftest import make_settings

    live = InProcess(make_settings(tmp_path, demo=True)).start()
    try:
        starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat()
        booked = live.post(f"{live.url}/api/v1/appointments", headers={"Authorization": f"Bearer {live.token}"},
                           json={"patient_name": "Kari Nordmann", "patient_phone": "41234567", "starts_at": starts})
        live.sms()
        with _client(live) as client:
            _sign_in(client)
            page = client.get("/staff/outbox")
            assert page.status_code == 200
            assert booked.json()["join_url"] in page.text and "+4741234567" in page.text
    finally:
        live.stop()
