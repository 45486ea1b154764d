"""One signaling socket's life (connections.Connection), over a real WebSocket on loopback: open until
``hello``, then greeted; closing for good once closed; a move the life does not have is refused with a
precise error instead of being taken silently."""

from __future__ import annotations

import asyncio
import json

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from visitt.live import protocol
from visitt.live.connections import Connection, Lifecycle
from visitt.limiter import Limiter
from visitt.settings import Settings

from .peers import run


def test_a_socket_is_open_then_greeted_then_closing_and_never_goes_back() -> None:
    seen: list[tuple[str, object]] = []

    async def endpoint(websocket: WebSocket) -> None:
        connection = Connection(websocket, Settings(), peer_id="p1", role="patient")
        await websocket.accept()
        seen.append(("accepted", connection.state))
        try:
            async for message in connection.messages():
                seen.append((type(message).__name__, connection.state))
                if isinstance(message, protocol.Leave):
                    connection.close(1000, "bye")
                    seen.append(("closed", connection.state))
                    with pytest.raises(RuntimeError, match="cannot go from 'closing' to 'greeted'"):
                        connection.advance(Lifecycle.GREETED)
                    connection.advance(Lifecycle.GOING_AWAY)  # already on its way out: stays closing
                    seen.append(("stopping", connection.state))
        except WebSocketDisconnect:
            pass

    async def scenario() -> None:
        app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
        app.state.limiter = Limiter(Settings())
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            async with connect(f"ws://127.0.0.1:{port}/ws") as socket:
                await socket.send(json.dumps({"type": "knock", "name": "Kari"}))  # before hello: refused, still open
                assert json.loads(await socket.recv())["code"] == "hello_required"
                await socket.send(json.dumps({"type": "hello", "version": protocol.VERSION}))
                await socket.send(json.dumps({"type": "leave"}))
                with pytest.raises(ConnectionClosed):
                    await socket.recv()
        finally:
            server.should_exit = True
            await task

    run(scenario())
    assert seen == [("accepted", Lifecycle.OPEN), ("Hello", Lifecycle.GREETED), ("Leave", Lifecycle.GREETED),
                    ("closed", Lifecycle.CLOSING), ("stopping", Lifecycle.CLOSING)]
