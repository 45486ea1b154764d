"""The limits of visitt/limiter.py, driven from outside over HTTP and WebSocket: open sockets per
link and per address, staff sign-in, outgoing SMS, and the shared counts in Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from visitt.limiter import CLOSE_TOO_MANY
from visitt.testing import LiveServer

from .conftest import make_settings
from .peers import TIMEOUT, book, run, ws_url


async def guest_socket(server: LiveServer, token: str, address: str = "") -> ClientConnection:
    headers = {"X-Forwarded-For": address} if address else None
    return await connect(ws_url(server, f"/ws/v/{token}"), additional_headers=headers, open_timeout=TIMEOUT)


async def close_code(socket: ClientConnection) -> int | None:
    """The code the server closed ``socket`` with, or None if it still answers a hello."""
    try:
        await socket.send('{"type": "hello", "version": 1}')
        async with asyncio.timeout(TIMEOUT):
            await socket.recv()
        return None
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006


@pytest.fixture
def capped(tmp_path: Path):  # type: ignore[no-untyped-def]
    live = LiveServer(make_settings(tmp_path, sockets_per_link=2, sockets_per_address=3)).start()
    yield live
    live.stop()


def test_open_sockets_are_capped_per_link_and_per_address_and_freed_on_close(capped: LiveServer) -> None:
    _url, first = book(capped)
    _url, second = book(capped, "Ola Nordmann")

    async def scenario() -> None:
        a1, a2 = await guest_socket(capped, first), await guest_socket(capped, first)
        assert [await close_code(a1), await close_code(a2)] == [None, None]
        a3 = await guest_socket(capped, first)
        assert await close_code(a3) == CLOSE_TOO_MANY  # the link's cap, whatever the address
        await a3.close()
        b1 = await guest_socket(capped, second)
        assert await close_code(b1) is None  # the address's third
        b2 = await guest_socket(capped, second)
        assert await close_code(b2) == CLOSE_TOO_MANY  # the address's cap, though the link has room
        await b2.close()
        elsewhere = await guest_socket(capped, second, address="203.0.113.7")  # another client address
        assert await close_code(elsewhere) is None
        await a1.close()
        async with asyncio.timeout(TIMEOUT):
            while True:  # the server hears of the close a moment later: then link and address have room again
                again = await guest_socket(capped, first)
                if await close_code(again) is None:
                    break
                await again.close()
                await asyncio.sleep(0.05)
        for socket in (a2, b1, elsewhere, again):
            await socket.close()

    run(scenario())
