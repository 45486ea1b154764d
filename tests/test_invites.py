"""More participants: a companion, an interpreter or a colleague, each invited with their own SMS,
link and code, through the waiting room like the patient; and a colleague as co-host, with the
clinician's powers in the call but the End button."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.exceptions import InvalidStatus

from visitt.store import audit
from visitt import demo
from visitt.live import protocol
from visitt.store.models import Appointment, Participant, Room, Staff
from visitt.testing import InProcess, LiveServer

from .browser import link_in
from .conftest import make_settings
from .peers import WsClient, book, run, staff_login
from .test_signaling import audit_trail, consultation

COLLEAGUE = demo.PEOPLE[1]  # Ola Hansen, the second demo clinician


def _future(days: int = 2) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)).replace(microsecond=0).isoformat()


def _api(server: LiveServer, path: str, body: dict[str, Any]) -> httpx.Response:
    return server.post(f"{server.url}/api/v1{path}", json=body, headers={"Authorization": f"Bearer {server.token}"})


def appointment_of(server: LiveServer, room: str) -> int:
    with server.database.session() as session:
        found = session.scalar(select(Room.appointment_id).where(Room.public_id == room))
        assert found is not None
        return found


def staff_id(server: LiveServer, email: str) -> int:
    with server.database.session() as session:
        found = session.scalar(select(Staff.id).where(Staff.email == email))
        assert found is not None
        return found


def invite(server: LiveServer, room: str, **fields: Any) -> dict[str, Any]:
    """Invite someone into the consultation ``room`` over the API; returns the invitation."""
    body = {"name": "Ivan Petrov", "kind": "interpreter", "phone": "412 34 568", **fields}
    response = _api(server, f"/appointments/{appointment_of(server, room)}/participants", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def joined_by(client: WsClient, peer_id: str) -> dict[str, Any]:
    """The ``joined`` that announced ``peer_id`` to ``client`` (earlier ones announced others)."""
    while True:
        joined = (await client.expect("joined"))["participant"]
        if joined["id"] == peer_id:
            return dict(joined)


def token_of(invitation: dict[str, Any]) -> str:
    return str(invitation["join_url"]).rsplit("/v/", 1)[1]


# --- inviting ---------------------------------------------------------------------------------


@pytest.mark.in_process
def test_each_invitee_gets_their_own_sms_link_and_code(pg_server: InProcess) -> None:
    response = _api(pg_server, "/appointments", {
        "patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": "2031-03-04T09:30",
        "participants": [{"name": "Ivan Petrov", "kind": "interpreter", "phone": "+47 412 34 568", "language": "en"},
                         {"name": "Per Nordmann", "kind": "companion", "phone": "412 34 569"}]})
    assert response.status_code == 201, response.text
    body = response.json()
    interpreter, companion = body["participants"]
    assert (interpreter["kind"], interpreter["name"], interpreter["cohost"]) == ("interpreter", "Ivan Petrov", False)
    assert len({body["code"], interpreter["code"], companion["code"]}) == 3
    assert len({body["join_url"], interpreter["join_url"], companion["join_url"]}) == 3

    by_number = {sms["to"]: sms["body"] for sms in pg_server.sms(count=3)}
    assert set(by_number) == {"+4741234567", "+4741234568", "+4741234569"}
    to_interpreter, to_companion = by_number["+4741234568"], by_number["+4741234569"]
    assert "as interpreter" in to_interpreter and "04.03.2031" in to_interpreter and "09:30" in to_interpreter
    assert link_in(to_interpreter) == interpreter["join_url"] and interpreter["code"] in to_interpreter
    assert "som ledsager" in to_companion  # the patient's language, bokmål
    assert link_in(to_companion) == companion["join_url"] and companion["code"] in to_companion
    for text in (to_interpreter, to_companion):
        assert "Kari" not in text and "Nordmann" not in text  # no one's name in an SMS

    with pg_server.database.session() as session:
        appointment = session.get(Appointment, body["id"])
        assert appointment is not None
        rows = appointment.room.participants
        assert [(row.kind, row.phone, row.staff_id) for row in rows] == [
            ("patient", "+4741234567", None), ("interpreter", "+4741234568", None), ("companion", "+4741234569", None)]
        events = audit.events(session, room_id=appointment.room.id)
        assert [(event.action, event.subject) for event in events] == [
            ("booking", f"appointment:{appointment.id}"), ("invite", f"participant:{rows[1].public_id}"),
            ("invite", f"participant:{rows[2].public_id}")]
        assert [event.detail for event in events[1:]] == [{"kind": "interpreter", "cohost": False},
                                                          {"kind": "companion", "cohost": False}]


@pytest.mark.in_process
def test_bad_invitations_get_the_one_error_shape(server: InProcess) -> None:
    booked = _api(server, "/appointments", {"patient_name": "Kari Nordmann", "patient_phone": "412 34 567",
                                            "starts_at": _future()})
    path = f"/appointments/{booked.json()['id']}/participants"

    response = _api(server, path, {"name": "  ", "kind": "doctor", "phone": "12", "language": "de"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error["fields"]) == {"name", "kind", "phone", "language"}

    response = _api(server, path, {"name": "Per", "kind": "companion", "phone": "69 86 00 00"})  # a landline
    assert response.json()["error"]["fields"] == {"phone": "Enter a mobile number that can receive SMS."}
    ingrid = staff_id(server, demo.PEOPLE[0][0])
    secretary = staff_id(server, demo.PEOPLE[2][0])
    response = _api(server, path, {"name": "Per", "kind": "companion", "phone": "412 34 569", "staff_id": ingrid})
    assert response.json()["error"]["fields"] == {"staff_id": "Only a colleague can join as co-host."}
    response = _api(server, path, {"name": "Sara", "kind": "colleague", "phone": "412 34 569", "staff_id": secretary})
    assert response.json()["error"]["fields"] == {"staff_id": "Choose a clinician from the list."}
    response = _api(server, path, {"name": "Ingrid", "kind": "colleague", "phone": "412 34 569", "staff_id": ingrid})
    assert response.json()["error"]["fields"] == {"staff_id": "This clinician is already in the consultation."}

    # Five people fit in a call: the clinician, the patient and three more.
    for number in ("412 34 561", "412 34 562", "412 34 563"):
        assert _api(server, path, {"name": "Per", "kind": "companion", "phone": number}).status_code == 201
    response = _api(server, path, {"name": "Per", "kind": "companion", "phone": "412 34 564"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "invites_full"

    # At booking, the same checks, keyed by position; too many are refused before anything is stored.
    response = _api(server, "/appointments", {
        "patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": _future(),
        "participants": [{"name": "", "kind": "interpreter", "phone": "412 34 568"}] + [
            {"name": "Per", "kind": "companion", "phone": "412 34 569"}] * 3})
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"participants.0.name", "participants"}

    with server.database.session() as session:
        assert len(list(session.scalars(select(Appointment)))) == 1
    assert server.post(f"{server.url}/api/v1{path}", json={}).status_code == 401


# --- roles in the waiting room and the call ---------------------------------------------------


def test_the_interpreter_waits_and_comes_in_with_their_role(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, patient = call.host, call.guest
            invitation = invite(server, call.room)
            async with await WsClient.guest(server, token_of(invitation)) as interpreter:
                welcome = await interpreter.hello()
                assert (welcome["id"], welcome["role"], welcome["name"]) == (invitation["id"], "interpreter",
                                                                            "Ivan Petrov")
                await interpreter.send({"type": "knock", "name": "Ivan  Petrov"})
                await interpreter.expect("waiting")
                knock = (await host.expect("knock"))["participant"]
                assert (knock["id"], knock["name"], knock["kind"]) == (invitation["id"], "Ivan Petrov", "interpreter")
                await host.send({"type": "admit", "room": call.room, "participant": interpreter.id})
                admitted = await interpreter.expect("admitted")
                assert sorted((peer["id"], peer["role"]) for peer in admitted["participants"]) == sorted(
                    [(host.id, "host"), (patient.id, "patient")])
                for other in (host, patient):
                    joined = await joined_by(other, interpreter.id)
                    assert joined["role"] == "interpreter" and "cohost" not in joined
        trail = audit_trail(server, call.room)
        assert trail[-2:] == [("knock", f"participant:{invitation['id']}"), ("admit", "staff:1")]

    run(scenario())


def test_peer_info_names_every_role_and_only_a_cohost_says_so() -> None:
    for role in ("host", "patient", "companion", "interpreter", "colleague"):
        assert protocol.PeerInfo(id="a", name="N", role=role).role == role  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        protocol.PeerInfo(id="a", name="N", role="doctor")  # type: ignore[arg-type]
    plain = json.loads(protocol.encode(protocol.Joined(participant=protocol.PeerInfo(id="a", name="N", role="colleague"))))
    assert "cohost" not in plain["participant"]
    cohost = json.loads(protocol.encode(protocol.Joined(
        participant=protocol.PeerInfo(id="a", name="N", role="colleague", cohost=True))))
    assert cohost["participant"]["cohost"] is True


# --- the co-host ------------------------------------------------------------------------------


def test_a_cohost_has_the_hosts_powers_in_the_call_but_end(server: LiveServer) -> None:
    ola = staff_id(server, COLLEAGUE[0])
    ola_cookie = staff_login(server, COLLEAGUE[0])

    async def scenario() -> None:
        async with consultation(server) as call:
            host, patient = call.host, call.guest
            colleague = invite(server, call.room, name="Dr. O. Hansen", kind="colleague", staff_id=ola)
            assert colleague["cohost"] is True
            path = f"/ws/cohost/{colleague['id']}"
            with pytest.raises(InvalidStatus):  # the invitation names Ola's account, not Ingrid's
                await WsClient.open(server, path, cookie=staff_login(server))
            with pytest.raises(InvalidStatus):  # nor a session at all
                await WsClient.open(server, path)
            async with await WsClient.open(server, path, cookie=ola_cookie) as cohost:
                welcome = await cohost.hello()
                assert (welcome["id"], welcome["role"], welcome["name"]) == (colleague["id"], "colleague", "Ola Hansen")

                # Outside the call, no powers; and a co-host knocks and waits like everyone.
                await cohost.send({"type": "lock", "room": call.room})
                await cohost.expect_error("not_in_call")
                await cohost.send({"type": "knock", "name": "Someone Else"})
                await cohost.expect("waiting")
                knock = (await host.expect("knock"))["participant"]
                assert (knock["name"], knock["kind"]) == ("Ola Hansen", "colleague")  # the account's name
                await host.send({"type": "admit", "room": call.room, "participant": cohost.id})
                await cohost.expect("admitted")
                assert (await cohost.expect("lobby"))["waiting"] == []
                joined = await joined_by(patient, cohost.id)
                assert (joined["role"], joined["cohost"]) == ("colleague", True)

                # An interpreter knocks: the co-host hears it and lets them in.
                interpreter_invitation = invite(server, call.room)
                async with await WsClient.guest(server, token_of(interpreter_invitation)) as interpreter:
                    await interpreter.hello()
                    await interpreter.send({"type": "knock", "name": "Ivan Petrov"})
                    await interpreter.expect("waiting")
                    heard = (await cohost.expect("knock"))["participant"]
                    assert (heard["id"], heard["kind"]) == (interpreter.id, "interpreter")
                    await cohost.send({"type": "admit", "room": call.room, "participant": interpreter.id})
                    await interpreter.expect("admitted")

                    for message, answer in (({"type": "unlock", "room": call.room}, "room"),
                                            ({"type": "identify", "participant": patient.id, "method": "known"},
                                             "updated")):
                        await cohost.send(message)
                        await cohost.expect(answer)
                    # The consultation stays the clinician's, and the clinician stays in it.
                    await cohost.send({"type": "end", "room": call.room})
                    await cohost.expect_error("forbidden")
                    await cohost.send({"type": "lock", "room": "another-room"})
                    await cohost.expect_error("forbidden")
                    for target in (host.id, cohost.id):
                        await cohost.send({"type": "remove", "room": call.room, "participant": target})
                        await cohost.expect_error("unknown_peer")
                    await cohost.send({"type": "identify", "participant": host.id, "method": "known"})
                    await cohost.expect_error("unknown_peer")
                    await cohost.send({"type": "remove", "room": call.room, "participant": interpreter.id})
                    await interpreter.expect("removed")

                # The clinician can take the co-host out again.
                await host.send({"type": "remove", "room": call.room, "participant": cohost.id})
                await cohost.expect("removed")
                assert "ended" not in host.types + patient.types

        trail = audit_trail(server, call.room)
        assert (("admit", f"staff:{ola}") in trail and ("unlock", f"staff:{ola}") in trail
                and ("identify", f"staff:{ola}") in trail and ("remove", f"staff:{ola}") in trail)
        assert trail[-1] == ("remove", "staff:1")

    run(scenario())


# --- the staff pages ---------------------------------------------------------------------------


def _signed_in(server: LiveServer | InProcess, email: str) -> tuple[httpx.Client, str]:
    http = server.client()
    http.get("/staff/login")
    csrf = http.cookies["visitt_csrf"]
    assert http.post("/staff/login", data={"email": email, "password": demo.PASSWORD, "csrf": csrf}).status_code == 303
    return http, csrf


@pytest.mark.in_process
def test_inviting_from_the_call_needs_the_host_and_the_form_token(server: InProcess) -> None:
    join_url, _token = book(server)
    with server.database.session() as session:
        room = session.scalars(select(Room)).one().public_id
    path = f"/staff/rooms/{room}/participants"
    form = {"name": "Ivan Petrov", "kind": "interpreter", "phone": "412 34 568"}
    ingrid, csrf = _signed_in(server, demo.PEOPLE[0][0])
    ola, ola_csrf = _signed_in(server, COLLEAGUE[0])
    try:
        assert ingrid.post(path, data=form, headers={"accept": "application/json"}).status_code == 403
        refused = ola.post(path, data={**form, "csrf": ola_csrf}, headers={"accept": "application/json"})
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
        invalid = ingrid.post(path, data={"csrf": csrf, "kind": "interpreter", "phone": "1"},
                              headers={"accept": "application/json", "accept-language": "nb"})
        assert invalid.status_code == 422
        assert invalid.json()["error"]["fields"] == {"name": "Skriv inn hele navnet.",
                                                     "phone": "Skriv inn et mobilnummer, for eksempel 412 34 567."}
        made = ingrid.post(path, data={**form, "csrf": csrf}, headers={"accept": "application/json"})
        assert made.status_code == 201, made.text
        assert made.json()["kind"] == "interpreter" and len(made.json()["code"]) == 6
        assert "join_url" not in made.json()  # the link goes to the interpreter's phone only
        interpreter_sms = [sms for sms in server.sms(count=2) if sms["to"] == "+4741234568"]
        assert len(interpreter_sms) == 1 and link_in(interpreter_sms[0]["body"]) != join_url

        # A colleague invited with their staff account finds the consultation on their dashboard,
        # and their SMS link, opened while signed in, leads to the co-host page.
        made = ingrid.post(path, data={"csrf": csrf, "name": "Ola Hansen", "kind": "colleague",
                                       "phone": "412 34 569", "staff_id": str(staff_id(server, COLLEAGUE[0]))},
                           headers={"accept": "application/json"})
        assert made.status_code == 201 and made.json()["cohost"] is True
        page = f"/staff/cohost/{made.json()['id']}"
        assert page in ola.get("/staff").text
        assert ola.get(page).status_code == 200 and 'id="cohost-join"' in ola.get(page).text
        assert ingrid.get(page, headers={"accept": "application/json"}).status_code == 404
        (ola_sms,) = [sms for sms in server.sms(count=3) if sms["to"] == "+4741234569"]
        opened = ola.get(link_in(ola_sms["body"]).removeprefix(server.url))
        assert opened.status_code == 303 and opened.headers["location"] == page
        assert server.get(link_in(ola_sms["body"])).status_code == 200  # not signed in: the guest page
    finally:
        ingrid.close()
        ola.close()

    with server.database.session() as session:
        kinds = [row.kind for row in session.scalars(select(Participant).order_by(Participant.id))]
    assert kinds == ["patient", "interpreter", "colleague"]


@pytest.mark.in_process
def test_the_booking_form_invites_one_more(server: InProcess) -> None:
    ingrid, csrf = _signed_in(server, demo.PEOPLE[0][0])
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    form = {"csrf": csrf, "patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "date": tomorrow,
            "time": "10:15", "duration_minutes": "30", "language": "en"}
    try:
        refused = ingrid.post("/staff/book", data={**form, "other_name": "Per Nordmann", "other_kind": "companion",
                                                   "other_phone": "12"})
        assert refused.status_code == 422
        assert 'id="other_phone-error"' in refused.text and 'value="Per Nordmann"' in refused.text
        booked = ingrid.post("/staff/book", data={**form, "other_name": "Per Nordmann", "other_kind": "companion",
                                                  "other_phone": "412 34 569"})
        assert booked.status_code == 303
        assert ingrid.post("/staff/book", data=form).status_code == 303  # nobody else: fine too
    finally:
        ingrid.close()
    by_number = {sms["to"]: sms["body"] for sms in server.sms(count=3)}
    assert "as a companion" in by_number["+4741234569"]  # the language chosen for the booking's SMS
    with server.database.session() as session:
        kinds = [[row.kind for row in room.participants] for room in session.scalars(select(Room).order_by(Room.id))]
    assert kinds == [["patient", "companion"], ["patient"]]


def test_a_cohost_back_on_a_new_socket_sees_the_waiting_room_again(tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, reconnect_grace=30.0)).start()
    try:
        ola = staff_id(server, COLLEAGUE[0])
        ola_cookie = staff_login(server, COLLEAGUE[0])

        async def scenario() -> None:
            async with consultation(server) as call:
                colleague = invite(server, call.room, name="Ola Hansen", kind="colleague", staff_id=ola)
                path = f"/ws/cohost/{colleague['id']}"
                cohost = await WsClient.open(server, path, cookie=ola_cookie)
                await cohost.hello()
                await cohost.send({"type": "knock", "name": "Ola Hansen"})
                await call.host.expect("knock")
                await call.host.send({"type": "admit", "room": call.room, "participant": cohost.id})
                await cohost.expect("admitted")
                await cohost.close()
                await call.host.expect("away")
                async with await WsClient.open(server, path, cookie=ola_cookie) as again:
                    await again.hello()
                    await again.send({"type": "rejoin"})
                    assert (await again.expect("admitted"))["resumed"] is True
                    assert (await again.expect("lobby"))["waiting"] == []
                    await again.send({"type": "lock", "room": call.room})
                    await again.expect_error("illegal_transition")  # locked on admission: the power is back

        run(scenario())
    finally:
        server.stop()
