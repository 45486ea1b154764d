"""The WebSocket protocol uvicorn runs for Visitt: uvicorn's own sans-I/O protocol, holding less per socket.

A signaling socket stays open for a whole consultation, and one worker holds ten thousand of them, so
what each one keeps matters. uvicorn's protocol keeps, for as long as the socket is open, the
handshake's request and response (their headers parsed into several dozen objects) and an
``asyncio.Queue`` and ``asyncio.Event`` (four ``deque`` blocks of 760 bytes between them, though a
socket holds at most a message or two). :class:`LeanWebSockets` lets the handshake go once it is
answered and uses :class:`Inbox` and :class:`Gate` instead: together about 6 KiB less per socket
(``docs/performance.md``). Everything else, framing, the close handshake and flow control
included, is uvicorn's; the version range in ``pyproject.toml`` is the one this was written against.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request

SEND_NOW = "visitt.send_now"  # the ASGI extension: scope["extensions"][SEND_NOW](text) -> bool


class Inbox:
    """What the client sent, waiting for the application's ``receive()``: the part of
    ``asyncio.Queue`` uvicorn uses, for one reader (an ASGI application receives in one place)."""

    __slots__ = ("items", "waiter")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self.items.append(item)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def empty(self) -> bool:
        return not self.items

    async def get(self) -> Any:
        while not self.items:
            if self.waiter is not None:
                raise RuntimeError("another receive() is already waiting on this socket")
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.items.pop(0)


class Gate:
    """Whether the socket may be written to now: the part of ``asyncio.Event`` uvicorn uses for
    flow control. Open nearly always; the waiters' list exists only while it is shut."""

    __slots__ = ("is_open", "waiters")

    def __init__(self) -> None:
        self.is_open = True
        self.waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self.is_open

    def set(self) -> None:
        self.is_open = True
        waiters, self.waiters = self.waiters or [], None
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self.is_open = False

    async def wait(self) -> None:
        while not self.is_open:
            waiter = asyncio.get_running_loop().create_future()
            if self.waiters is None:
                self.waiters = []
            self.waiters.append(waiter)
            try:
                await waiter
            finally:  # a cancelled writer leaves the others waiting
                if self.waiters is not None and waiter in self.waiters:
                    self.waiters.remove(waiter)


class LeanWebSockets(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, with :class:`Inbox` and :class:`Gate` for its queue
    and its writable event, the handshake let go once it is answered, and one ASGI extension,
    ``visitt.send_now`` (:meth:`send_now`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]  # duck-typed: put_nowait, get, empty
        self.writable = Gate()  # type: ignore[assignment]  # duck-typed: set, clear, wait

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # none if the handshake was refused
        if scope is not None:
            scope["extensions"][SEND_NOW] = self.send_now

    def send_now(self, text: str) -> bool:
        """Write a text message now, from synchronous code, if nothing stands in the way; False if
        something does (not yet accepted, closing, or the client not reading and the gate shut),
        and the caller sends it the ASGI way, which waits or reports why.

        A server pushes most messages to sockets that are otherwise idle (a knock to a clinician's
        dashboard, a ping); through ASGI each needs a task of its own to await ``send``.
        """
        if (not self.handshake_complete or self.close_sent or self.disconnected or self.initial_response is not None
                or not self.writable.is_set() or self.transport.is_closing()):
            return False
        try:
            self.conn.send_text(text.encode())
        except InvalidState:
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # uvicorn needs the request and its response only to answer the handshake
            del self.request, self.response


# What uvicorn is told about WebSockets (``visitt serve``, visitt.testing). No permessage-deflate:
# its zlib state costs about 40 KiB a socket, for messages mostly under 1 KiB. No WebSocket-level
# pings: the signaling protocol's own ping keeps the socket alive and finds dead ones.
UVICORN_WEBSOCKETS: dict[str, Any] = {"ws": LeanWebSockets, "ws_max_size": 1 << 20,
                                      "ws_per_message_deflate": False,
                                      "ws_ping_interval": None, "ws_ping_timeout": None}
