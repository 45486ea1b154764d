"""The signaling protocol against a live server: who may do what, what each person gets told, and
what a misbehaving client gets back - always through real WebSockets, with the audit trail read
from the real database."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from visitt.store import audit
from visitt.live import dashboards
from visitt import demo
from visitt.store.models import AuditEvent, Participant, ParticipantState, Room, RoomState, Staff
from visitt.live.protocol import VERSION
from visitt.testing import LiveServer

from .conftest import make_settings
from .eventually import eventually_async
from .peers import WsClient, book, run, staff_login, ws_url

HOST_NAME = demo.PEOPLE[0][2]
OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\n"}
CANDIDATE = {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "sdpMid": "0",
             "sdpMLineIndex": 0}


@dataclass
class Consultation:
    host: WsClient
    guest: WsClient
    room: str  # the room's public id, as the host learnt it from the knock
    token: str  # the patient's link token


@asynccontextmanager
async def consultation(server: LiveServer, *, admit: bool = True,
                       patient: str = "Kari Nordmann") -> AsyncIterator[Consultation]:
    """The clinician on the dashboard and a patient who has knocked (and, by default, been let in)."""
    _join_url, token = book(server, patient)
    async with await WsClient.staff(server, staff_login(server)) as host, \
            await WsClient.guest(server, token) as guest:
        await host.hello()
        await host.expect("lobby")
        await guest.hello()
        await guest.send({"type": "knock", "name": patient})
        await guest.expect("waiting")
        knock = await host.expect("knock")
        if admit:
            await host.send({"type": "admit", "room": knock["room"], "participant": guest.id})
            await host.expect("admitted")
            await guest.expect("admitted")
        yield Consultation(host, guest, knock["room"], token)


def room_row(server: LiveServer, public_id: str) -> tuple[int, RoomState]:
    with server.database.session() as session:
        room = session.scalar(select(Room).where(Room.public_id == public_id))
        assert room is not None
        return room.id, room.state


def audit_trail(server: LiveServer, public_id: str) -> list[tuple[str, str]]:
    room_id, _state = room_row(server, public_id)
    with server.database.session() as session:
        return [(event.action, event.actor) for event in audit.events(session, room_id=room_id)]


def clinician_id(server: LiveServer) -> int:
    with server.database.session() as session:
        staff = session.scalar(select(Staff).where(Staff.email == demo.PEOPLE[0][0]))
        assert staff is not None
        return staff.id


# --- who learns what --------------------------------------------------------------------------


def test_a_waiting_guest_learns_nothing_of_the_call(server: LiveServer) -> None:
    async def scenario() -> None:
        _url, other_token = book(server, "Per Hansen", days=3)
        async with consultation(server, admit=False) as call, await WsClient.guest(server, other_token) as waiting:
            host, patient = call.host, call.guest
            await waiting.hello()
            await waiting.send({"type": "knock", "name": "Per Hansen"})
            await waiting.expect("waiting")
            other_room = (await host.expect("knock"))["room"]

            # The clinician opens the waiting guest's room and works in it, with the guest still outside.
            await host.send({"type": "enter", "room": other_room})
            await host.expect("admitted")
            for action in ("lock", "unlock"):
                await host.send({"type": action, "room": other_room})
                await host.expect("room")
            await host.send({"type": "media", "audio": False, "video": True})
            await host.expect("updated")

            # Then lets the first patient in and the two of them negotiate a call.
            await host.send({"type": "admit", "room": call.room, "participant": patient.id})
            await host.expect("admitted")
            await patient.expect("admitted")
            await patient.send({"type": "signal", "to": host.id, "description": OFFER})
            await host.expect("signal")
            await host.send({"type": "signal", "to": patient.id, "description": ANSWER})
            await patient.expect("signal")
            await patient.send({"type": "signal", "to": host.id, "candidate": CANDIDATE})
            await host.send({"type": "signal", "to": patient.id, "candidate": CANDIDATE})
            await host.expect("signal")
            await patient.expect("signal")
            await patient.send({"type": "media", "audio": True, "video": False})
            await host.expect("updated")

            # The waiting guest tries to join in, then makes sure everything sent to it has arrived.
            await waiting.send({"type": "signal", "to": host.id, "description": OFFER})
            await waiting.expect_error("not_in_call")
            await host.sync()
            await patient.sync()
            await waiting.sync()

            assert waiting.types == ["welcome", "waiting", "error", "pong"]
            heard = json.dumps(waiting.received)
            for secret in (host.id, HOST_NAME, patient.id, "Kari Nordmann", call.room, "sdp", "candidate"):
                assert secret not in heard

    run(scenario())


# --- the host's powers stay with the host -----------------------------------------------------


def test_a_guest_cannot_use_the_hosts_controls(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await host.sync()
            seen = len(host.received)
            for message in (
                {"type": "admit", "room": call.room, "participant": guest.id},
                {"type": "deny", "room": call.room, "participant": guest.id},
                {"type": "lock", "room": call.room},
                {"type": "unlock", "room": call.room},
                {"type": "enter", "room": call.room},
                {"type": "end", "room": call.room},
            ):
                await guest.send(message)
                await guest.expect_error("forbidden")

            # The call goes on as before: both still in it, the room still locked, nothing announced.
            await guest.send({"type": "signal", "to": host.id, "description": OFFER})
            assert (await host.expect("signal"))["from"] == guest.id
            await host.sync()
            assert [m["type"] for m in host.received[seen:]] == ["signal", "pong"]
            assert "ended" not in guest.types and "left" not in guest.types
            assert room_row(server, call.room)[1] is RoomState.locked
            assert [action for action, _actor in audit_trail(server, call.room)] == [
                "booking", "knock", "lock", "admit"]

    run(scenario())


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (json.dumps({"type": "ping", "padding": "x" * (64 * 1024)}), "message_too_large"),
        ("{not json", "malformed"),
        ('["ping"]', "malformed"),
        (json.dumps({"type": "teleport"}), "malformed"),
        (json.dumps({"type": "signal", "description": OFFER}), "malformed"),  # no "to"
        (json.dumps({"type": "media", "audio": True}), "malformed"),  # no "video"
        (json.dumps({"type": "knock", "name": "x" * 201}), "malformed"),
        (b'{"type": "ping"}', "malformed"),  # the protocol is text frames only
    ],
    ids=["oversize", "not-json", "not-an-object", "unknown-type", "signal-without-to", "media-without-video",
         "name-too-long", "binary-frame"],
)
def test_a_bad_message_gets_an_error_and_the_socket_goes_on(server: LiveServer, text: str | bytes,
                                                            code: str) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await host.sync()
            seen = len(host.received)
            await guest.send_raw(text)
            await guest.expect_error(code)
            await guest.sync()
            await guest.send({"type": "signal", "to": host.id, "candidate": CANDIDATE})
            await host.expect("signal")
            await host.sync()
            assert [m["type"] for m in host.received[seen:]] == ["signal", "pong"]

    run(scenario())


def test_a_message_of_exactly_the_limit_is_accepted(server: LiveServer) -> None:
    async def scenario() -> None:
        _url, token = book(server)
        async with await WsClient.guest(server, token) as guest:
            await guest.hello()
            body = json.dumps({"type": "ping", "padding": ""})
            await guest.send_raw(body[:-2] + "x" * (64 * 1024 - len(body)) + '"}')
            await guest.expect("pong")
            assert "error" not in guest.types

    run(scenario())


def test_hello_comes_first_and_the_version_must_match(server: LiveServer) -> None:
    async def scenario() -> None:
        _url, token = book(server)
        async with await WsClient.guest(server, token) as guest, \
                await WsClient.staff(server, staff_login(server)) as host:
            for client in (guest, host):
                await client.send({"type": "ping"})
                await client.expect_error("hello_required")
            await guest.send({"type": "knock", "name": "Kari Nordmann"})
            await guest.expect_error("hello_required")
            await host.send({"type": "lobby"})
            await host.expect_error("malformed")
            for client in (guest, host):
                await client.send({"type": "hello", "version": 2})
                await client.expect_error("unsupported_version")
            assert "welcome" not in guest.types and "lobby" not in host.types

            assert (await guest.hello())["state"] == "ready"
            assert (await host.hello())["role"] == "host"
            await guest.sync()

    run(scenario())


# --- relaying signals -------------------------------------------------------------------------


def test_the_sender_of_a_signal_cannot_be_spoofed(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await guest.send({"type": "signal", "to": host.id, "from": host.id, "description": OFFER})
            relayed = await host.expect("signal")
            assert relayed == {"type": "signal", "from": guest.id, "description": OFFER}
            await guest.send({"type": "signal", "to": host.id, "from": "s2", "candidate": CANDIDATE})
            relayed = await host.expect("signal")
            assert relayed["from"] == guest.id
            assert relayed["candidate"] == {**CANDIDATE, "usernameFragment": None}

    run(scenario())


def test_a_signal_from_a_guest_not_let_in_reaches_nobody(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server, admit=False) as call:
            host, guest = call.host, call.guest
            await host.send({"type": "enter", "room": call.room})
            await host.expect("admitted")
            await guest.send({"type": "signal", "to": host.id, "description": OFFER})
            await guest.expect_error("not_in_call")
            await guest.send({"type": "media", "audio": False, "video": False})
            await guest.sync()
            await host.sync()
            assert "signal" not in host.types and "updated" not in host.types
            assert guest.types == ["welcome", "waiting", "error", "pong"]

    run(scenario())


def test_a_waiting_guests_offer_ahead_reaches_the_hosts_dashboard_once_and_nothing_goes_back(
        server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server, admit=False) as call:
            host, guest = call.host, call.guest
            # an offer with a candidate in it would tell of the guest's network: refused, nothing forwarded
            await guest.send({"type": "offer_ahead", "sdp": OFFER["sdp"] + "a=candidate:1 1 udp 1 10.0.0.1 9 typ host\r\n"})
            await guest.expect_error("malformed")
            await guest.send({"type": "offer_ahead", "sdp": OFFER["sdp"]})
            ahead = await host.expect("offer_ahead")  # with the clinician's own ICE servers, for their answer
            assert ahead == {"type": "offer_ahead", "room": call.room, "participant": guest.id, "sdp": OFFER["sdp"],
                             "ice": {"iceServers": [], "iceTransportPolicy": "all"}}
            await guest.send({"type": "offer_ahead", "sdp": OFFER["sdp"]})  # once per waiting page
            await guest.expect_error("already_offered")
            await guest.sync()
            await host.sync()
            assert guest.types == ["welcome", "waiting", "error", "error", "pong"]  # nothing of the clinician's
            assert host.types.count("offer_ahead") == 1

            await host.send({"type": "admit", "room": call.room, "participant": guest.id})
            await guest.expect("admitted")
            await guest.send({"type": "offer_ahead", "sdp": OFFER["sdp"]})  # in the call: signal as usual
            await guest.expect_error("not_waiting")

    run(scenario())


def test_an_answer_made_ahead_says_which_offer_it_answers_and_nothing_else_may(server: LiveServer) -> None:
    """``answers`` (the ICE ufrag of the offer an answer made ahead is for) goes only with an answer, and is
    forwarded as it is: the guest's page takes the answer only if it is for the offer it has just sent."""
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await host.send({"type": "signal", "to": guest.id, "description": ANSWER, "answers": "Ab+/9z"})
            assert await guest.expect("signal") == {"type": "signal", "from": host.id, "description": ANSWER,
                                                    "answers": "Ab+/9z"}
            for wrong in ({"description": OFFER, "answers": "Ab+/9z"}, {"candidate": CANDIDATE, "answers": "Ab+/9z"},
                          {"description": ANSWER, "answers": "abc"}, {"description": ANSWER, "answers": "a b c d"},
                          {"description": ANSWER, "answers": "x" * 257}):
                await host.send({"type": "signal", "to": guest.id, **wrong})
                await host.expect_error("malformed")
            await guest.sync()
            assert guest.types.count("signal") == 1

    run(scenario())


def test_a_signal_to_someone_not_in_the_call_is_refused(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            for to in ("s2", call.guest.id):
                await call.guest.send({"type": "signal", "to": to, "description": OFFER})
                await call.guest.expect_error("unknown_peer")

    run(scenario())


# --- the handshake ----------------------------------------------------------------------------


def test_the_handshake_checks_origin_token_and_session(server: LiveServer) -> None:
    async def refused(connecting: Awaitable[WsClient]) -> None:
        with pytest.raises(InvalidStatus) as refusal:
            await connecting
        assert refusal.value.response.status_code == 403

    async def scenario() -> None:
        _url, token = book(server)
        cookie = staff_login(server)
        await refused(WsClient.guest(server, token, origin="https://evil.example"))
        await refused(WsClient.staff(server, cookie, origin="https://evil.example"))
        await refused(WsClient.guest(server, "not-a-real-token", origin=server.url))
        await refused(WsClient.staff(server, "not-a-session", origin=server.url))
        await refused(WsClient.open(server, "/ws/staff", origin=server.url))
        await refused(WsClient.open(server, "/ws/elsewhere", origin=server.url))  # not a socket of ours
        async with await WsClient.guest(server, token, origin=server.url) as guest, \
                await WsClient.staff(server, cookie, origin=server.url) as host:
            assert (await guest.hello())["role"] == "patient"
            assert (await host.hello())["name"] == HOST_NAME

    run(scenario())


# --- flooding ---------------------------------------------------------------------------------


def test_a_flood_is_rate_limited_and_the_socket_survives(server: LiveServer) -> None:
    async def scenario() -> None:
        _url, token = book(server)
        async with await WsClient.guest(server, token) as guest:
            await guest.hello()
            started = time.monotonic()
            for _ in range(400):
                await guest.send({"type": "ping"})

            async def flood_read() -> bool:  # answered in order: an answer to what follows the flood
                await guest.send_raw("not JSON")
                return any(m.get("code") == "malformed" for m in guest.received)

            await eventually_async(flood_read, "the server has read the flood")
            took = time.monotonic() - started
            answers = guest.received[1:]
            limited = [m for m in answers if m["type"] == "error" and m["code"] != "malformed"]
            assert limited and all(m["code"] == "rate_limited" for m in limited)
            assert len(limited) <= 1 + int(took)  # one notice a second, not one per dropped message
            assert guest.types.count("pong") < 400
            await asyncio.sleep(0.2)  # a new second's window of 50 messages has begun
            for _ in range(3):
                await guest.sync()
            assert not guest.closed

    run(scenario())


# --- the waiting room's decisions, and the audit trail ----------------------------------------


def test_admitting_lets_the_guest_in_locks_the_room_and_is_audited(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server, admit=False) as call:
            host, guest = call.host, call.guest
            await host.send({"type": "admit", "room": call.room, "participant": guest.id})
            entered = await host.expect("admitted")
            assert entered["room"] == call.room and entered["participants"] == []
            assert entered["locked"] is True  # admitting locked the room
            joined = await host.expect("joined")
            assert joined["participant"] == {"id": guest.id, "name": "Kari Nordmann", "role": "patient",
                                             "audio": True, "video": True, "sharing": False,
                                             "identified": None}
            admitted = await guest.expect("admitted")
            assert admitted["room"] == call.room and admitted["locked"] is True
            assert admitted["participants"] == [{"id": host.id, "name": HOST_NAME, "role": "host",
                                                 "audio": True, "video": True, "sharing": False,
                                                 "identified": None}]
            assert admitted["paused"] is None
            await host.sync()
            assert [m for m in host.received if m["type"] == "lobby"][-1]["waiting"] == []  # nobody left outside

            host_actor = f"staff:{clinician_id(server)}"
            assert audit_trail(server, call.room) == [
                ("booking", host_actor), ("knock", f"participant:{guest.id}"), ("lock", host_actor),
                ("admit", host_actor)]
            with server.database.session() as session:
                participant = session.scalar(select(Participant).where(Participant.public_id == guest.id))
                assert participant is not None and participant.state is ParticipantState.admitted

    run(scenario())


def test_a_busy_waiting_room_reaches_the_dashboard_at_once_per_knock_and_in_rounds_as_a_list(
        server: LiveServer) -> None:
    """Twelve patients knock and leave as fast as the server answers, then knock again and half of
    them leave. The clinician hears of each knock at once; the waiting room, which lists everyone
    each time, comes in a few rounds instead of after every change (here 49 would go), and the last
    round lists exactly who is waiting."""
    names = [f"Pasient {number}" for number in range(12)]
    tokens = [book(server, name)[1] for name in names]

    async def scenario() -> None:
        async with await WsClient.staff(server, staff_login(server)) as host:
            await host.hello()
            await host.expect("lobby")
            guests = [await WsClient.guest(server, token) for token in tokens]
            for guest in guests:
                await guest.hello()
            started = time.monotonic()
            for again in (False, True):
                for number, (guest, name) in enumerate(zip(guests, names, strict=True)):
                    await guest.send({"type": "knock", "name": name})
                    await guest.expect("waiting")
                    if not again or number % 2 == 0:
                        await guest.send({"type": "leave"})
                        await guest.expect("bye")
            took = time.monotonic() - started
            still_waiting = sorted(names[1::2])
            deadline = time.monotonic() + 5
            while True:
                await host.sync()
                lobbies = [message for message in host.received if message["type"] == "lobby"]
                if sorted(entry["name"] for entry in lobbies[-1]["waiting"]) == still_waiting:
                    break
                assert time.monotonic() < deadline, lobbies[-1]
                await asyncio.sleep(0.05)
            knocks = [message["participant"]["name"] for message in host.received if message["type"] == "knock"]
            assert knocks == names + names
            assert len(lobbies) <= 1 + dashboards.LOBBY_BURST + dashboards.LOBBY_ROUNDS * took + 1, (len(lobbies), took)
            for guest in guests:
                await guest.close()

    run(scenario())


def test_a_failed_admit_does_not_drop_the_call_in_progress(server: LiveServer) -> None:
    async def scenario() -> None:
        _url, other_token = book(server, "Per Hansen", days=3)
        async with consultation(server) as call, await WsClient.guest(server, other_token) as other:
            host, patient = call.host, call.guest
            await other.hello()
            await other.send({"type": "knock", "name": "Per Hansen"})
            await other.expect("waiting")
            knock = await host.expect("knock")
            await other.send({"type": "leave"})  # gives up just before the clinician clicks "admit"
            await other.expect("bye")

            await host.send({"type": "admit", "room": knock["room"], "participant": other.id})
            await host.expect_error("not_waiting")
            await patient.send({"type": "signal", "to": host.id, "description": OFFER})
            assert (await host.expect("signal"))["from"] == patient.id
            await host.send({"type": "media", "audio": True, "video": False})
            assert (await patient.expect("updated"))["participant"]["id"] == host.id
            assert "left" not in patient.types

    run(scenario())


def test_denying_turns_the_guest_away_and_is_audited(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server, admit=False) as call:
            host, guest = call.host, call.guest
            await host.send({"type": "deny", "room": call.room, "participant": guest.id})
            await guest.expect("denied")
            await host.sync()
            await guest.sync()
            assert guest.types == ["welcome", "waiting", "denied", "pong"]
            assert [action for action, _actor in audit_trail(server, call.room)] == ["booking", "knock", "deny"]
            await host.send({"type": "admit", "room": call.room, "participant": guest.id})
            await host.expect_error("not_waiting")

    run(scenario())


def test_ending_tells_everyone_and_is_audited(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await host.send({"type": "end", "room": call.room})
            assert (await host.expect("ended"))["reason"] == "host_ended"
            assert (await guest.expect("ended"))["reason"] == "host_ended"
            assert room_row(server, call.room)[1] is RoomState.ended
            assert [action for action, _actor in audit_trail(server, call.room)] == [
                "booking", "knock", "lock", "admit", "end", "leave"]  # the guest's leave, by the system
            await guest.send({"type": "knock", "name": "Kari Nordmann"})
            await guest.expect_error("room_ended")
            await host.send({"type": "enter", "room": call.room})
            await host.expect_error("room_ended")

    run(scenario())



# --- coming back: the lock, a node that restarted, and memory ----------------------------------


def test_an_unlocked_room_lets_a_returning_participant_straight_back_in(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await host.send({"type": "unlock", "room": call.room})
            await host.expect("room")
            await guest.send({"type": "leave"})
            await host.expect("left")
            async with await WsClient.guest(server, _token_of(server, guest.id)) as back:
                await back.hello()
                await back.send({"type": "knock", "name": "Kari Nordmann"})
                admitted = await back.expect("admitted")  # no waiting: the room is open and she was in it
                assert [p["id"] for p in admitted["participants"]] == [host.id]
                assert "waiting" not in back.types
                await host.expect("joined")
                await host.send({"type": "lock", "room": call.room})
                await host.expect("room")
                await back.send({"type": "leave"})
                await host.expect("left")
            async with await WsClient.guest(server, _token_of(server, guest.id)) as locked_out:
                await locked_out.hello()
                await locked_out.send({"type": "knock", "name": "Kari Nordmann"})
                await locked_out.expect("waiting")  # locked: she knocks like anyone else
                assert (await host.expect("knock"))["participant"]["id"] == guest.id
            actors = [(a, who) for a, who in audit_trail(server, call.room) if a == "admit"]
            assert actors[1] == ("admit", "system")

    run(scenario())


def test_a_participant_left_admitted_by_a_restart_can_knock_again(server: LiveServer) -> None:
    async def scenario() -> None:
        _url, token = book(server)
        async with await WsClient.guest(server, token) as guest:
            await guest.hello()
            with server.database.session() as session:  # what a node that died mid-call leaves behind
                participant = session.scalar(select(Participant).where(Participant.public_id == guest.id))
                assert participant is not None
                participant.state = ParticipantState.admitted
            await guest.send({"type": "knock", "name": "Kari Nordmann"})
            await guest.expect("waiting")

        def trail() -> list[AuditEvent]:
            with server.database.session() as session:
                return [e for e in audit.events(session) if e.subject == f"participant:{guest.id}"]

        events = await eventually_async(lambda: len(trail()) >= 3 and trail(), "the server records the closed socket")
        assert [(e.action, e.actor, e.detail.get("reason")) for e in events] == [
            ("leave", "system", "connection_lost"), ("knock", f"participant:{guest.id}", None),
            ("leave", f"participant:{guest.id}", None)]

    run(scenario())


def test_rooms_are_forgotten_when_nobody_is_connected(server: LiveServer) -> None:
    async def scenario() -> None:
        hub = server.app.state.hub
        async with consultation(server) as call:
            assert call.room in hub.rooms
            await call.guest.send({"type": "leave"})
            await call.host.expect("left")
            await call.host.send({"type": "leave"})
            await call.host.expect("bye")
        await eventually_async(lambda: hub.rooms == {}, "no room is held")

    run(scenario())


def _token_of(server: LiveServer, public_id: str) -> str:
    """A fresh link for an existing participant (the test never saw the original token)."""
    from visitt.accounts import digest, new_secret

    token = new_secret()
    with server.database.session() as session:
        participant = session.scalar(select(Participant).where(Participant.public_id == public_id))
        assert participant is not None
        participant.token_hash = digest(token)
    return token


@pytest.fixture
def quick_pings(tmp_path: Path) -> Iterator[LiveServer]:
    """A server that pings every 0.3 s and gives up after 0.6 s of silence (20 s and 40 s in production)."""
    live = LiveServer(make_settings(tmp_path, ping_interval=0.3, ping_timeout=0.6)).start()
    yield live
    live.stop()


def test_a_client_that_stops_answering_is_closed_with_4002_and_one_that_answers_stays(quick_pings: LiveServer) -> None:
    async def scenario() -> None:
        _url, silent_token = book(quick_pings, "Kari Nordmann")
        _url, lively_token = book(quick_pings, "Ola Nordmann")
        async with await WsClient.guest(quick_pings, lively_token) as lively, \
                connect(ws_url(quick_pings, f"/ws/v/{silent_token}")) as silent:
            await lively.hello()
            await silent.send(json.dumps({"type": "hello", "version": VERSION}))
            started = time.monotonic()
            with pytest.raises(ConnectionClosed) as closed:
                while True:  # reads the pings, never answers them
                    await asyncio.wait_for(silent.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4002
            assert closed.value.rcvd.reason == "ping timeout"
            assert 0.6 <= time.monotonic() - started < 3
            await eventually_async(lambda: lively.types.count("ping") >= 4, "four more pings")
            assert not lively.closed  # the pongs keep it open
            await lively.sync()

    run(scenario())


def test_a_socket_that_never_says_hello_is_closed_after_10_s_with_4002(server: LiveServer) -> None:
    async def scenario() -> None:
        _url, token = book(server)
        async with connect(ws_url(server, f"/ws/v/{token}")) as mute:
            started = time.monotonic()
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(mute.recv(), 15)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4002
            assert closed.value.rcvd.reason == "no hello"
            assert 10 <= time.monotonic() - started < 12

    run(scenario())


def test_a_client_that_does_not_read_is_closed_with_4001_and_the_room_goes_on(tmp_path: Path) -> None:
    # a burst allowance big enough for the clinician to outrun a patient who stopped reading
    live = LiveServer(make_settings(tmp_path, messages_per_second=1000)).start()

    async def scenario() -> None:
        _url, token = book(live)
        async with await WsClient.staff(live, staff_login(live)) as host, \
                connect(ws_url(live, f"/ws/v/{token}"), max_queue=1) as guest:
            await host.hello()
            await guest.send(json.dumps({"type": "hello", "version": VERSION}))
            await guest.send(json.dumps({"type": "knock", "name": "Kari Nordmann"}))
            knock = await host.expect("knock")
            await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})
            while json.loads(await asyncio.wait_for(guest.recv(), 5))["type"] != "admitted":
                pass
            # the guest stops reading; the clinician sends far more than the socket buffers hold
            offer = {"type": "offer", "sdp": "v=0\r\n" + "a" * (32 * 1024 - 10)}
            for _ in range(700):
                await host.send({"type": "signal", "to": knock["participant"]["id"], "description": offer})
            await host.sync()
            received = 0
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(guest.recv(), 10)
                    received += 1
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
            assert closed.value.rcvd.reason == "too slow"
            assert received < 700  # what was still queued when it overflowed was dropped
            await host.expect("away")  # the others are told, as for any dropped socket
            await host.sync()

    try:
        run(scenario())
    finally:
        live.stop()
