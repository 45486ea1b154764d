"""WebSockets under the server Visitt runs (visitt/ops/serving.py: uvicorn, its configuration as given), through a
real server on loopback.

A tiny Starlette app stands in for the signaling endpoints: what these tests look at is the
socket itself, that nothing a client sends or is sent goes missing or out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from visitt.ops.serving import uvicorn_config

from .eventually import eventually_async
from .peers import run

BIG = 64 * 1024  # one message; 256 of them (16 MiB) are past what the kernel and the transport buffer
FLOODED: list[int] = []  # the numbers of the flood's messages the server has written so far


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            if text.startswith("flood "):  # write faster than the client reads: flow control shuts the gate
                count = int(text.split()[1])
                FLOODED.clear()
                for number in range(count):
                    await websocket.send_text(f"{number:08d}" + "x" * (BIG - 8))
                    FLOODED.append(number)
                await websocket.send_text("done")
            else:
                await websocket.send_text(text)
    except WebSocketDisconnect:
        pass


async def refuse(websocket: WebSocket) -> None:
    await websocket.close(1008)


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[str]:
    app = Starlette(routes=[WebSocketRoute("/echo", echo), WebSocketRoute("/refuse", refuse)])
    config = uvicorn_config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def test_a_browser_offering_compression_gets_plain_frames() -> None:
    """Browsers offer permessage-deflate; its zlib state would cost about 40 KiB a socket for messages
    mostly under 1 KiB, so the server answers without it."""
    async def scenario() -> tuple[str | None, str]:
        async with serving() as url, connect(f"{url}/echo", compression="deflate") as socket:
            await socket.send("hello")
            assert socket.response is not None
            return socket.response.headers.get("Sec-WebSocket-Extensions"), str(await socket.recv())

    assert run(scenario()) == (None, "hello")


def test_messages_a_client_sends_at_once_arrive_all_and_in_order() -> None:
    async def scenario() -> list[str]:
        async with serving() as url, connect(f"{url}/echo") as socket:
            for number in range(500):
                await socket.send(f"message {number}")
            return [str(await socket.recv()) for _ in range(500)]

    assert run(scenario()) == [f"message {number}" for number in range(500)]


def test_a_client_that_reads_late_still_gets_everything_in_order() -> None:
    """The server writes 16 MiB while the client reads nothing: the transport's buffer fills, the
    writer waits at the gate, and carries on as the client reads."""
    async def scenario() -> list[int]:
        async with serving() as url, connect(f"{url}/echo", max_size=None, max_queue=1) as socket:
            await socket.send("flood 256")

            async def stuck() -> bool:  # written part of it, and gets no further while nobody reads
                written = len(FLOODED)
                await asyncio.sleep(0.2)
                return 0 < written == len(FLOODED) < 256

            await eventually_async(stuck, "the server waits behind flow control")
            received = []
            while (text := str(await socket.recv())) != "done":
                received.append(int(text[:8]))
            await socket.send("still here")
            assert await socket.recv() == "still here"
            return received

    assert run(scenario()) == list(range(256))


def test_a_socket_refused_before_accept_gets_403() -> None:
    async def scenario() -> int:
        async with serving() as url:
            with pytest.raises(InvalidStatus) as refused:
                await connect(f"{url}/refuse")
            return refused.value.response.status_code

    assert run(scenario()) == 403
