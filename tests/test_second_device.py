"""Someone else with the patient's SMS - the link, or the six-digit code - cannot take over her place.

Only the page whose knock holds the place has its place key; a reload or a second tab of the same
browser takes the place back with it. Any other device knocks as a "second device" that the clinician
sees as such and must admit; until then it gets nothing of the call (no TURN credentials, no
participants, no signals), and the patient's call goes on untouched."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from visitt.testing import LiveServer

from .conftest import make_settings
from .peers import WsClient, in_call, run, staff_login, ws_url
from .test_signaling import audit_trail

CANDIDATE = {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(make_settings(tmp_path, reconnect_grace=30.0)).start()
    yield live
    live.stop()


def book(server: LiveServer) -> dict[str, str]:
    starts_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    response = httpx.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                          json={"patient_name": "Kari Nordmann", "patient_phone": "412 34 567",
                                "starts_at": starts_at.isoformat(), "duration_minutes": 30})
    assert response.status_code == 201, response.text
    booked = response.json()
    return {"token": booked["join_url"].rsplit("/v/", 1)[1], "code": booked["code"]}


async def by_code(server: LiveServer, code: str) -> WsClient:
    """Another phone: the code typed on the front page, then the page's socket with the guest pass it earned."""
    with httpx.Client(base_url=server.url) as client:
        client.get("/")
        answer = client.post("/", data={"code": code, "csrf": client.cookies["visitt_csrf"]})
        assert answer.status_code == 303, answer.text
        guest_pass = client.cookies["visitt_guest"]
    socket = await connect(ws_url(server, "/ws/v"), additional_headers={"Cookie": f"visitt_guest={guest_pass}"})
    return WsClient(socket)


@pytest.mark.parametrize("way", ["link", "code"])
def test_another_device_with_the_sms_cannot_take_over_a_locked_call(server: LiveServer, way: str) -> None:
    async def scenario() -> None:
        booked = book(server)
        host, patient, room = await in_call(server, staff_login(server), booked["token"])
        async with host, patient:
            intruder = await (WsClient.guest(server, booked["token"]) if way == "link" else by_code(server, booked["code"]))
            async with intruder:
                await intruder.hello()
                await intruder.send({"type": "rejoin"})
                await intruder.expect_error("not_resumable")
                await intruder.send({"type": "rejoin", "key": "x" * 32})  # a guessed key
                await intruder.expect_error("not_resumable")
                await intruder.send({"type": "signal", "to": host.id, "candidate": CANDIDATE})
                await intruder.expect_error("not_in_call")

                await intruder.send({"type": "knock", "name": "Kari Nordmann"})
                waiting = await intruder.expect("waiting")
                assert waiting.get("second_device") is True and "key" not in waiting
                knock = (await host.expect("knock"))["participant"]
                assert knock["second_device"] is True and knock["name"] == "Kari Nordmann"
                assert knock["id"] != patient.id and knock["id"].startswith(patient.id)

                await intruder.send({"type": "signal", "to": host.id, "candidate": CANDIDATE})
                await intruder.expect_error("not_in_call")
                await intruder.sync()
                # nothing of the call: no admission, no TURN credentials, nobody's id or signal
                assert not {"admitted", "joined", "signal", "back"} & set(intruder.types)
                assert not any("ice" in message or "participants" in message for message in intruder.received)

                # the patient's call goes on: her signals still reach the clinician and back
                await patient.send({"type": "signal", "to": host.id, "candidate": CANDIDATE})
                assert (await host.expect("signal"))["from"] == patient.id
                await host.send({"type": "signal", "to": patient.id, "candidate": CANDIDATE})
                assert (await patient.expect("signal"))["from"] == host.id
                await host.sync()
                assert not {"back", "left", "away", "place_taken"} & set(host.types)
                assert "error" not in patient.types
        trail = audit_trail(server, room)
        assert [action for action, _ in trail].count("admit") == 1 and "take_over" not in dict(trail)

    run(scenario())


def test_admitting_the_second_device_hands_the_place_over(server: LiveServer) -> None:
    async def scenario() -> None:
        booked = book(server)
        host, patient, room = await in_call(server, staff_login(server), booked["token"])
        old_key = patient.key
        async with host, patient, await WsClient.guest(server, booked["token"]) as phone:
            await phone.hello()
            await phone.send({"type": "knock", "name": "Kari Nordmann"})
            await phone.expect("waiting")
            knock = (await host.expect("knock"))["participant"]
            await host.send({"type": "admit", "room": room, "participant": knock["id"]})

            assert (await patient.expect_error("replaced"))["message"]
            admitted = await phone.expect("admitted")
            assert admitted["key"] and admitted["key"] != old_key and "ice" in admitted
            assert [p["id"] for p in admitted["participants"]] == [host.id]
            assert (await host.expect("left"))["participant"] == patient.id
            joined = (await host.expect("joined"))["participant"]
            assert joined["id"] == patient.id and joined["identified"] is None
            taken = await host.expect("place_taken")
            assert taken["second_device"] is True and taken["name"] == "Kari Nordmann"

            # the first page can do nothing more in the room
            await patient.send({"type": "signal", "to": host.id, "candidate": CANDIDATE})
            await patient.expect_error("not_in_call")
            await phone.send({"type": "signal", "to": host.id, "candidate": CANDIDATE})
            assert (await host.expect("signal"))["from"] == patient.id  # the place's id, now the new phone's

        # the old key no longer takes the place back; the new one does
        async with await WsClient.guest(server, booked["token"]) as old:
            await old.hello()
            await old.send({"type": "rejoin", "key": old_key})
            await old.expect_error("not_resumable")
        assert ("take_over", "staff:1") in audit_trail(server, room)

    run(scenario())


def test_denying_the_second_device_leaves_the_patient_in_the_call(server: LiveServer) -> None:
    async def scenario() -> None:
        booked = book(server)
        host, patient, room = await in_call(server, staff_login(server), booked["token"])
        async with host, patient, await WsClient.guest(server, booked["token"]) as phone:
            await phone.hello()
            await phone.send({"type": "knock", "name": "Someone Else"})
            knock = (await host.expect("knock"))["participant"]
            await host.send({"type": "deny", "room": room, "participant": knock["id"]})
            await phone.expect("denied")
            await patient.send({"type": "signal", "to": host.id, "candidate": CANDIDATE})
            assert (await host.expect("signal"))["from"] == patient.id
            await patient.sync()
            assert "error" not in patient.types
        # her own page still takes its place back after a drop: the denial changed nothing of hers
        async with await WsClient.guest(server, booked["token"]) as back:
            await back.hello()
            await back.send({"type": "rejoin", "key": patient.key})
            assert (await back.expect("admitted"))["resumed"] is True
        actions = [action for action, _ in audit_trail(server, room)]
        assert actions.count("deny") == 1 and "leave" not in actions

    run(scenario())


def test_the_same_browser_takes_its_place_back_and_the_clinician_is_told(server: LiveServer) -> None:
    """A second tab of the same browser (it has the key) while the first is still open: the newest wins."""
    async def scenario() -> None:
        booked = book(server)
        host, patient, room = await in_call(server, staff_login(server), booked["token"])
        async with host, patient, await WsClient.guest(server, booked["token"]) as tab:
            await tab.hello()
            await tab.send({"type": "rejoin", "key": patient.key})
            assert (await tab.expect("admitted"))["resumed"] is True
            await patient.expect_error("replaced")
            assert (await host.expect("back"))["participant"]["id"] == patient.id
            assert (await host.expect("place_taken"))["second_device"] is False
            await tab.send({"type": "signal", "to": host.id, "candidate": CANDIDATE})
            assert (await host.expect("signal"))["from"] == patient.id
        assert "knock" not in [action for action, _ in audit_trail(server, room)][2:]

    run(scenario())


def test_a_second_device_while_the_patient_waits_waits_beside_her(server: LiveServer) -> None:
    async def scenario() -> None:
        booked = book(server)
        async with await WsClient.staff(server, staff_login(server)) as host, \
                await WsClient.guest(server, booked["token"]) as patient, \
                await WsClient.guest(server, booked["token"]) as phone:
            await host.hello()
            await patient.hello()
            await patient.send({"type": "knock", "name": "Kari Nordmann"})
            assert (await patient.expect("waiting"))["key"]
            first = (await host.expect("knock"))["participant"]
            await phone.hello()
            await phone.send({"type": "knock", "name": "Kari Nordmann"})
            assert (await phone.expect("waiting"))["second_device"] is True
            second = (await host.expect("knock"))["participant"]
            assert "second_device" not in first and second["second_device"] is True
            # a second tab of her browser keeps her place in the queue, not the phone's
            async with await WsClient.guest(server, booked["token"]) as tab:
                await tab.hello()
                await tab.send({"type": "rejoin", "key": patient.key})
                await tab.expect("waiting")
                await patient.expect_error("replaced")
                lobby = await host.expect("lobby")
                while len(lobby["waiting"]) != 2:
                    lobby = await host.expect("lobby")
                assert {entry["id"] for entry in lobby["waiting"]} == {first["id"], second["id"]}
                await host.send({"type": "admit", "room": first["room"], "participant": first["id"]})
                assert (await tab.expect("admitted"))["participants"][0]["id"] == host.id
                assert "admitted" not in phone.types

    run(scenario())


def test_a_second_device_stays_one_after_leaving_or_being_denied(server: LiveServer) -> None:
    """Leave, deny or knock again in any order: a device without the key never gets the place, a key or the call."""
    async def scenario() -> None:
        booked = book(server)
        host, patient, room = await in_call(server, staff_login(server), booked["token"])
        async with host, patient, await WsClient.guest(server, booked["token"]) as phone:
            await phone.hello()
            for undo in ("leave", "deny", "leave"):
                await phone.send({"type": "knock", "name": "Some One"})
                waiting = await phone.expect("waiting")
                assert waiting.get("second_device") is True and "key" not in waiting
                knock = (await host.expect("knock"))["participant"]
                assert knock["second_device"] is True
                if undo == "leave":
                    await phone.send({"type": "leave"})
                    await phone.expect("bye")
                else:
                    await host.send({"type": "deny", "room": room, "participant": knock["id"]})
                    await phone.expect("denied")
                await phone.send({"type": "rejoin", "key": "k" * 32})
                await phone.expect_error("not_resumable")
            await phone.sync()
            assert phone.key is None and not {"admitted", "joined", "signal", "back"} & set(phone.types)
            await patient.send({"type": "signal", "to": host.id, "candidate": CANDIDATE})
            assert (await host.expect("signal"))["from"] == patient.id
        trail = [action for action, _ in audit_trail(server, room)]
        assert "leave" not in trail[:trail.index("admit") + 1] and trail.count("admit") == 1

    run(scenario())


def test_after_a_restart_another_device_knocks_as_a_second_device_and_she_takes_her_place_back(
        tmp_path: Path) -> None:
    settings = make_settings(tmp_path, reconnect_grace=30.0)
    first = LiveServer(settings).start()
    booked = book(first)
    cookie = staff_login(first)
    keys: list[str] = []

    async def before() -> None:
        host, patient, _room = await in_call(first, cookie, booked["token"])
        await asyncio.to_thread(first.stop)
        await host.close()
        await patient.close()
        keys.append(str(patient.key))

    run(before())
    second = LiveServer(settings).start()
    try:
        async def after() -> None:
            async with await WsClient.staff(second, cookie) as host, \
                    await WsClient.guest(second, booked["token"]) as phone:
                await host.hello()
                await phone.hello()
                await phone.send({"type": "knock", "name": "Some One"})  # first, before her page is back
                assert (await phone.expect("waiting")).get("second_device") is True
                assert (await host.expect("knock"))["participant"]["second_device"] is True
                async with await WsClient.guest(second, booked["token"]) as patient:
                    await patient.hello()
                    await patient.send({"type": "rejoin", "key": keys[0]})
                    assert (await patient.expect("admitted"))["resumed"] is True
                assert "admitted" not in phone.types

        run(after())
    finally:
        second.stop()
