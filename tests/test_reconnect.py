"""Coming back after a dropped signaling socket: the place in the call is kept for a grace period,
the others see "away" and "back", and nobody knocks again - also after a server restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from visitt.testing import LiveServer

from .conftest import make_settings
from .peers import WsClient, book, in_call, run, staff_login
from .test_signaling import audit_trail


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(make_settings(tmp_path, reconnect_grace=1.0)).start()
    yield live
    live.stop()


def test_a_dropped_guest_rejoins_without_knocking(server: LiveServer) -> None:
    async def scenario() -> None:
        _url, token = book(server)
        host, guest, room = await in_call(server, staff_login(server), token)
        async with host:
            await guest.close()  # the phone's connection drops
            assert (await host.expect("away"))["participant"] == guest.id
            async with await WsClient.guest(server, token) as back:
                await back.hello()
                await back.send({"type": "rejoin", "key": guest.key})
                admitted = await back.expect("admitted")
                assert admitted["resumed"] is True and [p["id"] for p in admitted["participants"]] == [host.id]
                returned = await host.expect("back")
                assert returned["participant"]["id"] == guest.id and returned["participant"]["name"] == "Kari Nordmann"
                await asyncio.sleep(1.3)  # past the grace: nothing more happens, she is back
                await host.sync()
                assert "left" not in host.types and "knock" not in host.types[host.types.index("back"):]
                await back.send({"type": "signal", "to": host.id, "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}})
                assert (await host.expect("signal"))["from"] == guest.id
        # no leave and no second knock for the dropped socket
        assert [action for action, _ in audit_trail(server, room)] == ["booking", "knock", "lock", "admit"]

    run(scenario())


def test_after_the_grace_the_guest_is_out_and_knocks_again(server: LiveServer) -> None:
    async def scenario() -> None:
        _url, token = book(server)
        host, guest, room = await in_call(server, staff_login(server), token)
        async with host:
            await guest.close()
            await host.expect("away")
            assert (await host.expect("left", timeout=5))["participant"] == guest.id
            async with await WsClient.guest(server, token) as late:
                await late.hello()
                await late.send({"type": "rejoin", "key": guest.key})
                await late.expect_error("not_resumable")
                await late.send({"type": "knock", "name": "Kari Nordmann"})
                await late.expect("waiting")  # the room locked itself on admission: she waits
                assert (await host.expect("knock"))["participant"]["id"] == guest.id
        actions = audit_trail(server, room)
        assert ("leave", "system") in actions

    run(scenario())


def test_the_clinician_drops_and_comes_back(server: LiveServer) -> None:
    async def scenario() -> None:
        _url, token = book(server)
        cookie = staff_login(server)
        host, guest, room = await in_call(server, cookie, token)
        async with guest:
            await host.close()
            assert (await guest.expect("away"))["participant"] == host.id
            async with await WsClient.staff(server, cookie) as again:
                await again.hello()
                await again.send({"type": "enter", "room": room})
                admitted = await again.expect("admitted")
                assert admitted["resumed"] is True and [p["id"] for p in admitted["participants"]] == [guest.id]
                assert (await guest.expect("back"))["participant"]["id"] == host.id
                await guest.sync()
                assert "left" not in guest.types and "joined" not in guest.types

    run(scenario())


def test_after_a_server_restart_the_call_is_taken_up_again(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, reconnect_grace=1.0)
    first = LiveServer(settings).start()
    _url, token = book(first)
    cookie = staff_login(first)

    async def before() -> str:
        host, guest, room = await in_call(first, cookie, token)
        await asyncio.to_thread(first.stop)  # the node goes away: sockets get 1001, nobody has left
        await host.close()
        await guest.close()
        assert guest.key
        keys.append(guest.key)
        return room

    keys: list[str] = []
    room = run(before())
    second = LiveServer(settings).start()
    try:
        async def after() -> None:
            async with await WsClient.guest(second, token) as intruder:  # the SMS on another phone: no key
                await intruder.hello()
                await intruder.send({"type": "rejoin"})
                await intruder.expect_error("not_resumable")
            async with await WsClient.guest(second, token) as guest, await WsClient.staff(second, cookie) as host:
                await guest.hello()
                await guest.send({"type": "rejoin", "key": keys[0]})  # the page kept it
                admitted = await guest.expect("admitted")
                assert admitted["resumed"] is True and admitted["participants"] == []
                await host.hello()
                await host.send({"type": "enter", "room": room, "resume": True})  # the page still has the call
                entered = await host.expect("admitted")
                assert entered["resumed"] is True  # so it keeps its peer connections
                assert [p["id"] for p in entered["participants"]] == [guest.id]
                await guest.expect("joined")

        run(after())
        assert ("admit", "system") in audit_trail(second, room)
    finally:
        second.stop()
