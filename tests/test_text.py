"""Text one person types and another reads (visitt/text.py): control and text-direction characters are
refused at every edge - the signaling socket, the booking form and API, invitations, the portal - and
nothing of a refused message reaches anyone else."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from visitt import accounts, text
from visitt.errors import ValidationFailed
from visitt.store.models import Participant, Role
from visitt.testing import InProcess, LiveServer

from .peers import WsClient, book, run, staff_login
from .test_cli import _visitt
from .test_portal import door, visit, visitor
from .test_signaling import consultation
from .test_web_staff import _client, _csrf, _sign_in

RLO, NUL = "\u202e", "\x00"
REFUSED = ["Kari \u202ennamdroN", "Kari\x00 Nordmann", "Kari \u2066Nordmann\u2069", "\u202aKari", "Kari\x1bNordmann",
           "Kari\x85Nordmann", "Kari\x7f"]


@pytest.mark.in_process
@pytest.mark.in_process
@pytest.mark.in_process
@pytest.mark.in_process
@pytest.mark.in_process
@pytest.mark.in_process
@pytest.mark.parametrize("value", REFUSED)
def test_control_and_direction_characters_are_refused(value: str) -> None:
    assert text.refused(value) is not None


@pytest.mark.parametrize("value", [
    "Kari Nordmann", "Ola\tNordmann", "first line\nsecond line\r\n", "Åse Ødegård-Ñúñez",
    "\u0643\u0627\u0631\u064a \u200f(\u0646\u0648\u0631\u062f\u0645\u0627\u0646)",  # Arabic with a right-to-left mark
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian/Urdu with a zero-width non-joiner
])
def test_ordinary_text_in_any_script_is_kept(value: str) -> None:
    assert text.refused(value) is None


def test_a_knock_with_a_direction_override_is_refused_and_the_clinician_sees_nothing(server: LiveServer) -> None:
    async def scenario() -> None:
        _url, token = book(server)
        async with await WsClient.staff(server, staff_login(server)) as host, \
                await WsClient.guest(server, token) as guest:
            await host.hello()
            await host.expect("lobby")
            await guest.hello()
            for name in ("Kari \u202ennamdroN", "Kari\x00Nordmann"):
                await guest.send({"type": "knock", "name": name})
                error = await guest.expect_error(text.CODE)
                assert "not allowed" in error["message"]
            await guest.sync()
            await host.sync()
            assert "knock" not in host.types and "waiting" not in guest.types
            # the same page then knocks with the name typed again
            await guest.send({"type": "knock", "name": "Kari Nordmann"})
            assert (await host.expect("knock"))["participant"]["name"] == "Kari Nordmann"

    run(scenario())


@pytest.mark.parametrize("message", [
    {"type": "chat", "text": "can you hear me?\x00"},
    {"type": "chat", "text": f"the {RLO}txet sdrawkcab"},
    {"type": "chat", "text": "bell\x07"},
])
def test_a_chat_message_with_refused_characters_goes_to_nobody(server: LiveServer, message: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            await call.guest.send(message)
            await call.guest.expect_error(text.CODE)
            await call.host.send(message)
            await call.host.expect_error(text.CODE)
            await call.host.sync()
            await call.guest.sync()
            assert "chat" not in call.host.types and "chat" not in call.guest.types

    run(scenario())


def test_a_chat_message_keeps_its_line_breaks(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            await call.guest.send({"type": "chat", "text": "no sound\r\nno picture"})
            assert (await call.host.expect("chat"))["text"] == "no sound\nno picture"

    run(scenario())


def test_an_identity_note_with_an_override_is_refused(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            await call.host.send({"type": "identify", "participant": call.guest.id, "method": "other",
                                  "note": f"passport {RLO}1234"})
            await call.host.expect_error(text.CODE)
            await call.host.sync()
            await call.guest.sync()
            assert "updated" not in call.guest.types

    run(scenario())


def _api(server: LiveServer, body: dict[str, Any]) -> httpx.Response:
    return server.post(f"{server.url}/api/v1/appointments", json=body,
                       headers={"Authorization": f"Bearer {server.token}", "Accept-Language": "en"})


def _booking(**changes: Any) -> dict[str, Any]:
    starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).isoformat()
    return {"patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": starts, **changes}


@pytest.mark.parametrize("name", REFUSED[:3])
def test_the_booking_api_refuses_such_a_patient_name(server: InProcess, name: str) -> None:
    response = _api(server, _booking(patient_name=name))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"] == {"patient_name": text.NAME_REFUSED}
    assert server.sms(wait=0.3) == []


def test_the_booking_api_refuses_such_an_invitee_name(server: InProcess) -> None:
    response = _api(server, _booking(participants=[{"name": "Ivan\u2067 Petrov", "kind": "interpreter",
                                                    "phone": "412 34 568"}]))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"] == {"participants.0.name": text.NAME_REFUSED}
    assert server.sms(wait=0.3) == []


def test_the_invite_api_refuses_such_a_name(server: InProcess) -> None:
    booked = _api(server, _booking())
    assert booked.status_code == 201
    response = server.post(f"{server.url}/api/v1/appointments/{booked.json()['id']}/participants",
                           json={"name": "Per\x00", "kind": "companion", "phone": "412 34 569"},
                           headers={"Authorization": f"Bearer {server.token}"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"] == {"name": text.NAME_REFUSED}
    assert len(server.sms(wait=0.3)) == 1  # the patient's invitation only


def test_the_booking_form_refuses_such_a_name_in_the_readers_language(server: InProcess) -> None:
    with _client(server) as client:
        _sign_in(client)
        csrf = _csrf(client, "/staff/book")
        day = (dt.date.today() + dt.timedelta(days=2)).isoformat()
        form = {"csrf": csrf, "patient_name": f"Kari {RLO}nnamdroN", "patient_phone": "412 34 567", "date": day,
                "time": "09:00", "duration_minutes": "30"}
        page = client.post("/staff/book", data=form)
        assert page.status_code == 422
        assert "invisible control or text-direction characters" in page.text
        norsk = client.post("/staff/book", data=form, headers={"Accept-Language": "nb"})
        assert norsk.status_code == 422 and "usynlige kontroll- eller tekstretningstegn" in norsk.text
    assert server.sms(wait=0.3) == []


def test_the_portal_refuses_such_a_name(server: InProcess) -> None:
    with visitor(server) as client:
        page = visit(client, door(server), "Kari\u202d Nordmann")
        assert page.status_code == 422
        assert "invisible control or text-direction characters" in page.text
    with server.database.session() as session:
        assert session.scalars(select(Participant).where(Participant.display_name.contains("Kari"))).all() == []


def test_visitt_users_add_refuses_such_a_name_or_department(tmp_path: Path) -> None:
    for args in (["--name", "Dr \u202eevE"], ["--name", "Eva Lege", "--department", "Hud\x1b[2J"]):  # NUL cannot be an argument; ESC can
        refused = _visitt(tmp_path, "users", "add", "eva@example.no", *args, VISITT_NEW_PASSWORD="a long passphrase")
        assert refused.returncode == 2 and "control or text-direction characters" in refused.stderr


def test_a_staff_name_is_checked_too(server: InProcess) -> None:
    with server.database.session() as session, pytest.raises(ValidationFailed) as refused:
        accounts.create_staff(session, email="ny@example.no", full_name="Dr \u202eevE", role=Role.clinician,
                              password="a long passphrase", department=None)
    assert refused.value.fields == {"full_name": text.NAME_REFUSED}
