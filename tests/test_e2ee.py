"""The keys of a group call's end-to-end encryption (visitt/live/e2ee.py), through Visitt and a real Janus with
aiortc participants on real sockets: who gets them, when they change, and that they never reach a log.

aiortc cannot encrypt frames; here the patient's socket says it does (``e2ee: true``), which is all the server
sees of a page (the media test with real encryption is tests/test_e2ee_browser.py)."""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from visitt.live import protocol
from visitt.live.e2ee import IDS, KeyRing
from visitt.testing import LiveServer

from . import test_sfu
from .conftest import make_settings
from .janus import SECRET, JanusServer
from .peers import ColourTrack, ToneTrack, WsClient, run, staff_login


def test_a_rotation_keeps_the_key_in_use_until_the_switch_and_then_only_the_new_one() -> None:
    ring = KeyRing()
    first = ring.keys[0]
    assert ring.message(True).send == 0 and ring.message(False).send is None
    new = ring.rotate()
    assert new == 1 and [key_id for key_id, _ in ring.keys] == [0, 1] and ring.sending == 0
    newer = ring.rotate()  # someone else left before the switch: the unused key 1 goes
    assert [key_id for key_id, _ in ring.keys] == [0, 2]
    assert not ring.switch(new)  # too late: replaced
    assert ring.switch(newer) and ring.keys[0][0] == 2 and ring.sending == 2 and ring.keys[0] != first
    ring.keys = [(IDS - 1, b"k" * 32)]
    ring.sending = IDS - 1
    assert ring.rotate() == 0  # one byte in each frame: the ids wrap


def test_a_key_is_never_in_a_message_s_repr() -> None:
    message = KeyRing().message(True)
    assert message.keys[0].key not in repr(message) and message.keys[0].key not in str(message)
    assert message.keys[0].key in protocol.encode(message)  # but on the wire, to its participant


async def publish(socket: WsClient, e2ee: bool | None) -> tuple[RTCPeerConnection, dict[str, Any]]:
    """Send a tone and a picture to Janus, saying whether we encrypt; the ``sfu_keys`` that came first."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(ToneTrack())
    pc.addTrack(ColourTrack((20, 60, 220)))
    await pc.setLocalDescription(await pc.createOffer())
    message: dict[str, Any] = {"type": "sfu_publish", "page": test_sfu.PAGE, "sdp": pc.localDescription.sdp}
    if e2ee is not None:
        message["e2ee"] = e2ee
    await socket.send(message)
    keys = await socket.expect("sfu_keys")
    published = await socket.expect("sfu_published")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=published["sdp"], type="answer"))
    return pc, keys


async def updated_of(socket: WsClient, participant: str) -> dict[str, Any]:
    """The next ``updated`` about ``participant``."""
    while True:
        updated: dict[str, Any] = (await socket.expect("updated"))["participant"]
        if updated["id"] == participant:
            return updated


def key_ids(message: dict[str, Any]) -> list[int]:
    return [key["id"] for key in message["keys"]]


async def keys_for_admitted_only(server: LiveServer) -> None:
    patient_token, companion_token = test_sfu._book_group(server)
    async with await WsClient.staff(server, staff_login(server)) as host, \
            await WsClient.guest(server, patient_token) as patient, \
            await WsClient.guest(server, companion_token) as companion:
        for socket in (host, patient, companion):
            await socket.hello()
        await patient.send({"type": "knock", "name": "Kari Nordmann"})
        knock = await host.expect("knock")
        room = knock["room"]
        await host.send({"type": "admit", "room": room, "participant": patient.id})
        await patient.expect("admitted")

        # still in the waiting room: no media server, no keys
        await companion.send({"type": "knock", "name": "Ola Nordmann"})
        await host.expect("knock")
        await companion.send({"type": "sfu_publish", "page": test_sfu.PAGE, "sdp": "v=0"})
        assert (await companion.expect("error"))["code"] == "not_in_call"
        await companion.sync()
        assert "sfu_keys" not in companion.types

        connections = []
        try:
            pc, first = await publish(patient, True)
            connections.append(pc)
            assert key_ids(first) == [0] and first["send"] == 0 and len(base64.urlsafe_b64decode(first["keys"][0]["key"])) == 32
            assert (await updated_of(host, patient.id))["e2ee"] is True

            # the companion's page cannot encrypt: the call goes in clear, and everyone is told who
            await host.send({"type": "admit", "room": room, "participant": companion.id})
            await companion.expect("admitted")
            pc, theirs = await publish(companion, None)
            connections.append(pc)
            assert theirs["send"] is None and theirs["keys"] == first["keys"]
            assert (await patient.expect("sfu_keys"))["send"] is None
            assert (await updated_of(patient, companion.id))["e2ee"] is False

            # the companion is removed: a new key for the patient at once, sent with a second later; the
            # call is encrypted again; the companion gets nothing more
            await host.send({"type": "remove", "room": room, "participant": companion.id})
            await companion.expect("removed")
            renewed = await patient.expect("sfu_keys")
            assert key_ids(renewed) == [0, 1] and renewed["send"] == 0
            assert renewed["keys"][1]["key"] != first["keys"][0]["key"]
            switched = await patient.expect("sfu_keys", timeout=10)
            assert key_ids(switched) == [1] and switched["send"] == 1 and switched["keys"][0] == renewed["keys"][1]
            await companion.sync()
            assert companion.types.count("sfu_keys") == 1
            assert "sfu_keys" not in host.types  # the host sends nothing to Janus: no keys either
            return None
        finally:
            await asyncio.gather(*(pc.close() for pc in connections))


def test_keys_go_to_admitted_senders_only_change_when_someone_leaves_and_never_reach_a_log(
        janus: JanusServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET)).start()
    try:
        run(keys_for_admitted_only(server))
        keys = [key for sfu_room in server.app.state.hub.sfu.rooms.values() for _, key in sfu_room.keys.keys]
    finally:
        server.stop()
    assert keys
    for key in keys:
        assert base64.urlsafe_b64encode(key).decode() not in caplog.text and key.hex() not in caplog.text


async def keys_again_after_a_drop(server: LiveServer) -> None:
    patient_token, _ = test_sfu._book_group(server)
    async with await WsClient.staff(server, staff_login(server)) as host:
        patient = await WsClient.guest(server, patient_token)
        await host.hello()
        await patient.hello()
        await patient.send({"type": "knock", "name": "Kari Nordmann"})
        knock = await host.expect("knock")
        await host.send({"type": "admit", "room": knock["room"], "participant": patient.id})
        await patient.expect("admitted")
        pc, keys = await publish(patient, True)
        try:
            await patient.close()  # the phone's connection drops, within its grace
            await host.expect("away")
            async with await WsClient.guest(server, patient_token) as back:
                await back.hello()
                await back.send({"type": "rejoin", "key": patient.key})
                assert (await back.expect("admitted"))["resumed"] is True
                assert (await back.expect("sfu_keys")) == keys  # any sent meanwhile went to the old socket
                assert (await host.expect("back"))["participant"]["e2ee"] is True
        finally:
            await pc.close()


def test_a_page_back_after_a_drop_gets_the_keys_again(janus: JanusServer, tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET,
                                      reconnect_grace=10.0)).start()
    try:
        run(keys_again_after_a_drop(server))
    finally:
        server.stop()
