"""Staff pages through HTTP (in process): sign-in, CSRF, booking form errors, who may book for whom, sign-out;
times on the clinic's clock, states in words, one heading a page."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from zoneinfo import ZoneInfo

import httpx
import pytest
from babel.dates import format_date

from visitt import accounts, demo
from visitt.store import audit
from visitt.messaging import delivery
from visitt.web import i18n
from visitt.store.models import AppointmentState, Department, OutboxState, ParticipantState, Role, RoomState
from visitt.testing import Client, InProcess, LiveServer


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
        # a staff meeting's invitation is there too, for its host, and for nobody else
        meeting = live.post(f"{live.url}/api/v1/meetings", headers={"Authorization": f"Bearer {live.token}"},
                            json={"title": "MDT", "guests": [{"name": "Dr. Nils Lunde", "phone": "412 34 570"}]})
        join_url = meeting.json()["invitations"][0]["join_url"]
        live.sms(count=2)
        with _client(live) as client:
            _sign_in(client)
            assert join_url in client.get("/staff/outbox").text
        with _client(live) as client:
            _sign_in(client, demo.PEOPLE[1][0])
            page = client.get("/staff/outbox")
            assert page.status_code == 200 and join_url not in page.text and "+4741234570" not in page.text
    finally:
        live.stop()


# --- times, states and headings as staff read them ----------------------------------------------

STATE_TOKENS = {state.value for enum in (AppointmentState, ParticipantState, RoomState, OutboxState)
                for state in enum} | set(delivery.STATUSES)


def _visible(html: str) -> str:
    """The page's words as read: no scripts (their JSON keys are tokens by design), no tags, plain spaces."""
    html = re.sub(r"<script\b.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _book_at(server: LiveServer, starts_at: dt.datetime, patient: str) -> tuple[int, str]:
    response = httpx.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                          json={"patient_name": patient, "patient_phone": "41234567",
                                "starts_at": starts_at.isoformat(), "duration_minutes": 90}, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["join_url"].rsplit("/v/", 1)[1]


def test_staff_pages_show_clinic_times_and_state_words_under_one_heading(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An appointment at a known UTC instant reads as Oslo time in the reader's language on the dashboard, the
    appointment page, the queue and the outbox; every state reads as words, never a stored token; and each
    staff page has exactly one h1."""
    from .conftest import make_settings
    from .peers import WsClient, run

    live = LiveServer(make_settings(tmp_path, demo=True)).start()
    try:
        day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
        starts = dt.datetime.combine(day, dt.time(13, 5), tzinfo=dt.UTC)  # 14:05 or 15:05 in Oslo
        oslo = starts.astimezone(ZoneInfo("Europe/Oslo"))
        waiting_id, token = _book_at(live, starts, "Kari Nordmann")
        cancelled_id, _ = _book_at(live, starts + dt.timedelta(hours=2), "Ola Normann")
        no_show_id, _ = _book_at(live, starts + dt.timedelta(hours=4), "Per Hansen")
        live.sms()

        async def knock_and_look() -> dict[str, str]:
            async with await WsClient.guest(live, token) as guest:  # waits while the pages are read
                await guest.hello()
                await guest.send({"type": "knock", "name": "Kari Nordmann"})
                await guest.expect("waiting")
                return await asyncio.to_thread(read_pages)

        def read_pages() -> dict[str, str]:
            pages: dict[str, str] = {}
            for language in ("nb", "en"):
                with httpx.Client(base_url=live.url, headers={"Accept-Language": language}, timeout=60) as client:
                    _sign_in(client)
                    if language == "nb":
                        client.post(f"/staff/appointments/{cancelled_id}/cancel",
                                    data={"csrf": _csrf(client, f"/staff/appointments/{cancelled_id}")})
                        client.post(f"/staff/appointments/{no_show_id}/no-show", data={"csrf": _csrf(client, "/staff")})
                    for path in ("/staff", f"/staff/appointments/{waiting_id}", "/staff/queue", "/staff/outbox",
                                 "/staff/book"):
                        response = client.get(path)
                        assert response.status_code == 200, (path, response.status_code)
                        pages[f"{language} {path}"] = response.text
                with httpx.Client(base_url=live.url, headers={"Accept-Language": language}, timeout=60) as client:
                    pages[f"{language} /staff/login"] = client.get("/staff/login").text
                    _sign_in(client, demo.PEOPLE[2][0])  # a secretary's dashboard: appointments only
                    pages[f"{language} /staff (secretary)"] = client.get("/staff").text
            return pages

        pages = run(knock_and_look())
    finally:
        live.stop()

    for name, html in pages.items():
        assert len(re.findall(r"<h1\b", html)) == 1, name
    # on the clinic's clock, never UTC's
    utc_clock = f"{starts:%H:%M}"
    for path in ("/staff", "/staff (secretary)", f"/staff/appointments/{waiting_id}"):
        nb, en = _visible(pages[f"nb {path}"]), _visible(pages[f"en {path}"])
        assert f"{format_date(oslo, 'medium', locale='nb')}, {oslo:%H:%M}" in nb, (path, nb)  # "6. des. 2026, 14:05"
        assert utc_clock not in nb, path
        assert f"{oslo:%b} {oslo.day}, {oslo.year}, {oslo:%-I:%M} {oslo:%p}" in en, (path, en)
        assert "90 min" in nb and "(90 min)" in en
    assert "ikke møtt" in _visible(pages["nb /staff"]) and "avlyst" in _visible(pages["nb /staff"])
    assert "bestilt" in _visible(pages["nb /staff"])
    assert "Kari Nordmann: på venterommet" in _visible(pages[f"nb /staff/appointments/{waiting_id}"])
    assert "Kari Nordmann: in the waiting room" in _visible(pages[f"en /staff/appointments/{waiting_id}"])
    queue = _visible(pages["nb /staff/queue"])
    assert f"Time kl. {oslo:%H:%M}" in queue, queue
    outbox = _visible(pages["nb /staff/outbox"])
    assert "UTC" not in outbox and "sendt" in outbox
    # no stored state token in the words of any Norwegian page
    for name, html in pages.items():
        if name.startswith("nb"):
            words = set(re.findall(r"[a-z_]+", _visible(html)))
            assert not words & STATE_TOKENS, (name, words & STATE_TOKENS)
        assert not {"no_show", "in_progress", "technical_failure"} & set(re.findall(r"[a-z_]+", _visible(html))), name
