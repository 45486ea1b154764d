"""The privacy pause over real sockets: anyone in the call pauses, everyone is told why, only the
clinician resumes, every move is audited, and someone let in during a pause learns it at once."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import select

from visitt.store import audit
from visitt import rooms
from visitt.errors import IllegalTransition
from visitt.store.models import Room
from visitt.testing import LiveServer

from .eventually import eventually_async
from .peers import WsClient, book, run
from .test_signaling import _token_of, clinician_id, consultation, room_row


def pause_trail(server: LiveServer, public_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    room_id, _state = room_row(server, public_id)
    with server.database.session() as session:
        return [(event.action, event.actor, event.detail) for event in audit.events(session, room_id=room_id)
                if event.action in ("pause", "resume")]


def paused_row(server: LiveServer, public_id: str) -> tuple[object, str | None, str | None]:
    with server.database.session() as session:
        room = session.scalar(select(Room).where(Room.public_id == public_id))
        assert room is not None
        return room.paused_at, room.paused_by, room.pause_reason


@pytest.mark.parametrize(("paused", "target"), list(itertools.product([False, True], repeat=2)))
def test_the_pause_machine_has_two_states(paused: bool, target: bool) -> None:
    if paused != target:
        rooms.check_pause_move(paused, target)
    else:
        state = "paused" if paused else "running"
        with pytest.raises(IllegalTransition, match=f"consultation cannot go from '{state}' to '{state}'"):
            rooms.check_pause_move(paused, target)


def test_the_patient_pauses_everyone_sees_why_and_only_the_clinician_resumes(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await guest.send({"type": "pause", "reason": "someone_entered"})
            expected = {"type": "paused", "by": guest.id, "name": "Kari Nordmann", "reason": "someone_entered"}
            assert await guest.expect("paused") == expected
            assert await host.expect("paused") == expected
            paused_at, paused_by, reason = paused_row(server, call.room)
            assert paused_at is not None and (paused_by, reason) == (guest.id, "someone_entered")

            # Pressing Pause again changes nothing; the patient cannot lift the pause.
            await guest.send({"type": "pause", "reason": "other"})
            await guest.expect_error("illegal_transition")
            await guest.send({"type": "resume"})
            await guest.expect_error("forbidden")
            await host.sync()
            assert "resumed" not in host.types and paused_row(server, call.room)[0] is not None

            await host.send({"type": "resume"})
            assert await host.expect("resumed") == {"type": "resumed", "by": host.id}
            assert await guest.expect("resumed") == {"type": "resumed", "by": host.id}
            assert paused_row(server, call.room) == (None, None, None)
            await host.send({"type": "resume"})
            await host.expect_error("illegal_transition")

            staff = f"staff:{clinician_id(server)}"
            assert pause_trail(server, call.room) == [
                ("pause", f"participant:{guest.id}", {"reason": "someone_entered"}), ("resume", staff, {})]

    run(scenario())


def test_the_clinician_pauses_without_a_reason_and_a_lock_still_works(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await host.send({"type": "pause"})
            assert (await guest.expect("paused"))["reason"] is None
            await host.send({"type": "unlock", "room": call.room})  # the pause is not a lock state
            assert (await guest.expect("room"))["state"] == "open"
            await host.send({"type": "resume"})
            await guest.expect("resumed")
            assert [(a, who) for a, who, _ in pause_trail(server, call.room)] == [
                ("pause", f"staff:{clinician_id(server)}"), ("resume", f"staff:{clinician_id(server)}")]

    run(scenario())


def test_someone_let_in_during_a_pause_learns_it_in_admitted(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await guest.send({"type": "pause", "reason": "other"})
            await host.expect("paused")
            await guest.send({"type": "leave"})
            await host.expect("left")
            async with await WsClient.guest(server, _token_of(server, guest.id)) as back:
                await back.hello()
                await back.send({"type": "knock", "name": "Kari Nordmann"})
                await back.expect("waiting")
                await host.expect("knock")
                await host.send({"type": "admit", "room": call.room, "participant": guest.id})
                admitted = await back.expect("admitted")
                assert admitted["paused"] == {"by": guest.id, "name": "Kari Nordmann", "reason": "other"}

            # The clinician, too, finds the pause on coming back, even after the room was forgotten.
            await guest.close()
            await host.send({"type": "leave"})
            await host.expect("bye")
            # once the reconnection grace of the patient's dropped socket is over
            await eventually_async(lambda: call.room not in server.app.state.hub.rooms, "the room is forgotten")
            await host.send({"type": "enter", "room": call.room})
            entered = await host.expect("admitted")
            assert entered["paused"] == {"by": guest.id, "name": "Kari Nordmann", "reason": "other"}

    run(scenario())


def test_only_people_in_the_call_can_pause(server: LiveServer) -> None:
    async def scenario() -> None:
        _url, other = book(server, "Per Hansen", days=3)
        async with consultation(server) as call, await WsClient.guest(server, other) as outsider:
            host = call.host
            await outsider.hello()
            await outsider.send({"type": "pause", "reason": "someone_entered"})
            await outsider.expect_error("not_in_call")  # connected, not even knocked
            await outsider.send({"type": "knock", "name": "Per Hansen"})
            await outsider.expect("waiting")
            await outsider.send({"type": "pause"})
            await outsider.expect_error("not_in_call")  # waiting is not in the call
            await outsider.send({"type": "resume"})
            await outsider.expect_error("forbidden")
            await host.send({"type": "leave"})
            await host.expect("bye")
            await host.send({"type": "pause"})
            await host.expect_error("not_in_call")
            await call.guest.sync()
            assert "paused" not in call.guest.types
            assert pause_trail(server, call.room) == []

    run(scenario())


def test_a_bad_reason_is_malformed(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            await call.guest.send({"type": "pause", "reason": "my mother came in with my test results"})
            error = await call.guest.expect_error("malformed")
            assert "reason" in error["message"]

    run(scenario())
