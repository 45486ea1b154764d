"""A participant's signaling socket on this node (:class:`Connection`), and all of them (:class:`Connections`).

Per connection: one reader (:meth:`Connection.messages`, driven by :func:`visitt.live.signaling.run`)
and a bounded list of messages to write, written by a task that exists only while there is
something to write. One timer for all sockets
keeps the hello deadline, the pings and the silence check. Errors become ``error`` messages in one
place (:meth:`PeerLink.fail`); only :class:`~visitt.errors.VisittError` text reaches a client.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.websockets import WebSocket, WebSocketDisconnect

from visitt.live import protocol
from visitt.store.db import outage
from visitt.errors import INTERNAL, ProtocolError, RateLimited, VisittError, describe
from visitt.settings import Settings

log = logging.getLogger("visitt.signaling")
SEND_QUEUE = 256
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_SLOW = 4001
CLOSE_TIMEOUT = 4002
CLOSE_TRY_AGAIN = 1013  # RFC 6455: try again later; the page reconnects with its usual back-off
HELLO_TIMEOUT = 10.0
PING = protocol.encode(protocol.PingOut())
PONG = protocol.encode(protocol.PongOut())


class PeerLink:
    """A participant as the sessions see them: who they are, what they show, and a way to reach
    them. Implements :class:`visitt.live.hub.Peer`; :class:`Connection` is the socket on this node,
    :class:`visitt.live.cluster.RemoteLink` a socket on another node."""

    def __init__(self, *, peer_id: str, role: str, name: str = "", staff_id: int | None = None,
                 cohost: bool = False) -> None:
        self.id, self.role, self.name = peer_id, role, name
        self.staff_id = staff_id  # the clinician's, or a co-host's, staff account; the audit trail's actor
        self.cohost = cohost
        self.audio = self.video = True
        self.identified: str | None = None
        self.participant_id: int | None = None  # a guest's invitation (its database row), set by the session
        # the invitation's place in the room (its public id), whatever id this socket waits under meanwhile
        self.place: str | None = None
        self.sharing = False
        self.e2ee: bool | None = None  # a group call: their page encrypts what it sends to Janus (None: sends nothing)
        self.last_rate_error = 0.0

    def info(self) -> protocol.PeerInfo:
        role = self.role if self.role in protocol.ROLES else "patient"
        return protocol.PeerInfo(id=self.id, name=self.name, role=role, cohost=self.cohost,  # type: ignore[arg-type]
                                 audio=self.audio, video=self.video, sharing=self.sharing,
                                 identified=self.identified, e2ee=self.e2ee)  # type: ignore[arg-type]

    def send(self, text: str) -> None:
        raise NotImplementedError

    def fail(self, error: BaseException) -> None:
        """Report an error to this client: typed errors as they are, anything else as internal."""
        if isinstance(error, RateLimited):
            now = time.monotonic()
            if now - self.last_rate_error < 1.0:  # one notice a second, not one per dropped message
                return
            self.last_rate_error = now
        unavailable = outage(error)
        if unavailable is not None:
            log.warning("signaling: database unavailable: %s", describe(error))
            error = unavailable
        if isinstance(error, VisittError):
            self.send(protocol.encode(protocol.ErrorMessage(code=error.code, message=error.message,
                                                            fields=error.fields or None)))
        else:
            log.error("signaling: %s", describe(error))
            self.send(protocol.encode(protocol.ErrorMessage(code=INTERNAL["code"], message=INTERNAL["message"])))


@dataclass(frozen=True)
class Close:
    """Queued after the messages a socket still has to write: then close it with ``code``."""

    code: int
    reason: str


class Lifecycle(enum.Enum):
    """A socket's life on this node, as Starlette's ``WebSocketState`` is for the ASGI messages: open (accepted,
    waiting for ``hello``) → greeted → closing (by us or the client); or going away, when the server stops
    (what is queued is written, then 1001, and the socket's close handler does not run)."""

    OPEN = "open"
    GREETED = "greeted"
    CLOSING = "closing"
    GOING_AWAY = "going_away"


MOVES: dict[Lifecycle, frozenset[Lifecycle]] = {
    Lifecycle.OPEN: frozenset({Lifecycle.GREETED, Lifecycle.CLOSING, Lifecycle.GOING_AWAY}),
    Lifecycle.GREETED: frozenset({Lifecycle.CLOSING, Lifecycle.GOING_AWAY}),
    Lifecycle.CLOSING: frozenset(),
    Lifecycle.GOING_AWAY: frozenset(),
}
ENDING = frozenset({Lifecycle.CLOSING, Lifecycle.GOING_AWAY})


class Connection(PeerLink):
    """One participant's socket on this node.

    No task of its own while idle: what is sent waits in :attr:`pending`, written in order through
    the ASGI ``send`` by a task that runs only while there is something to write. The hello
    deadline and the pings are kept by :class:`Connections`' one timer for every socket.
    """

    def __init__(self, websocket: WebSocket, settings: Settings, *, peer_id: str, role: str,
                 name: str = "", staff_id: int | None = None, cohost: bool = False) -> None:
        super().__init__(peer_id=peer_id, role=role, name=name, staff_id=staff_id, cohost=cohost)
        self.websocket, self.settings = websocket, settings
        self.pending: list[str | Close] = []  # written in order; at most SEND_QUEUE texts
        self.writing: asyncio.Task[None] | None = None
        self.limiter = websocket.app.state.limiter  # the rule "messages", counted per socket ...
        self.rate_key = secrets.token_hex(8)  # ... under a key of its own
        self.last_heard = time.monotonic()
        self.next_ping = self.last_heard + HELLO_TIMEOUT  # before hello: when to give up on it
        self.state = Lifecycle.OPEN

    def advance(self, target: Lifecycle) -> None:
        """Move the socket's life on; a socket already on its way out stays so (closing twice is one close)."""
        if target is self.state or (target in ENDING and self.state in ENDING):
            return
        if target not in MOVES[self.state]:
            raise RuntimeError(f"a signaling socket cannot go from {self.state.value!r} to {target.value!r}")
        self.state = target

    @property
    def greeted(self) -> bool:
        return self.state is Lifecycle.GREETED

    @property
    def closing(self) -> bool:
        """Nothing more is sent: closed or closing, going away included."""
        return self.state in ENDING

    @property
    def going_away(self) -> bool:
        return self.state is Lifecycle.GOING_AWAY

    def send(self, text: str) -> None:
        if self.closing:
            return
        if len(self.pending) >= SEND_QUEUE:  # a peer that cannot keep up must not hold up the room
            self.close(CLOSE_TOO_SLOW, "too slow")
            return
        self.pending.append(text)
        self._write_soon()

    def close(self, code: int, reason: str) -> None:
        """Drop what is still to be written and close the socket with ``code``."""
        self.advance(Lifecycle.CLOSING)
        self.pending[:] = [Close(code, reason)]
        self._write_soon()

    def go_away(self) -> None:
        """The server is stopping: what is queued is written, then the socket closes with 1001 (going away)."""
        if self.closing:
            return
        self.advance(Lifecycle.GOING_AWAY)
        self.pending.append(Close(CLOSE_GOING_AWAY, "server shutting down"))
        self._write_soon()

    def _write_soon(self) -> None:
        if self.writing is None:
            self.writing = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        try:
            while self.pending:
                item = self.pending.pop(0)
                if isinstance(item, Close):
                    self.pending.clear()
                    await self.websocket.close(item.code, item.reason)
                    return
                await self.websocket.send_text(item)
        except Exception:  # the socket is gone; the reader sees it close and cleans up
            self.advance(Lifecycle.CLOSING)
            self.pending.clear()
        finally:
            self.writing = None

    def beat(self, now: float) -> None:
        """Called by :class:`Connections` at :attr:`next_ping`: the hello deadline, then a ping every
        ``ping_interval`` s and the silence check before it."""
        if now < self.next_ping or self.closing:
            return
        if not self.greeted:
            self.close(CLOSE_TIMEOUT, "no hello")
        elif now - self.last_heard > self.settings.ping_timeout:
            self.close(CLOSE_TIMEOUT, "ping timeout")
        else:
            self.send(PING)
            self.next_ping = now + self.settings.ping_interval

    async def messages(self) -> AsyncIterator[object]:
        """Yield parsed messages; bad ones are answered with an error and skipped."""
        while True:
            received = await self.websocket.receive()
            if received["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(received.get("code", 1000), received.get("reason"))
            text = received.get("text")
            size = len(text.encode()) if text is not None else len(received.get("bytes") or b"")
            self.last_heard = time.monotonic()
            try:
                if size > self.settings.max_message_bytes:
                    raise ProtocolError("message too large", code="message_too_large")
                if not self.limiter.hit("messages", self.rate_key):
                    raise RateLimited("too many messages; slow down")
                if text is None:  # a binary frame: the protocol is JSON text only
                    raise ProtocolError("malformed message: send JSON text, not binary", code="malformed")
                message = protocol.parse(text)
                if not self.greeted:
                    if not isinstance(message, protocol.Hello):
                        raise ProtocolError("say hello first", code="hello_required")
                    if message.version != protocol.VERSION:
                        raise ProtocolError(f"this server speaks version {protocol.VERSION}",
                                            code="unsupported_version")
                    self.advance(Lifecycle.GREETED)
                    self.next_ping = self.last_heard + self.settings.ping_interval
                elif isinstance(message, protocol.Hello):
                    raise ProtocolError("hello was already said", code="already_greeted")
                elif isinstance(message, protocol.Ping):
                    self.send(PONG)
                    continue
                elif isinstance(message, protocol.Pong):
                    continue
            except VisittError as error:
                self.fail(error)
                continue
            yield message


class Connections:
    """Every signaling socket open in this process (``app.state.connections``): counted by
    ``/metrics``, kept alive by one timer, and told to go away when the server stops.

    The timer visits only the sockets with a deadline due (the hello's, then each ping's): each
    socket waits in the slot of its next deadline, ``tick`` seconds wide. With thousands of
    sockets that is a few dozen a tick, not every socket every second.
    """

    def __init__(self, tick: float = 0.1) -> None:
        self.open: set[Connection] = set()
        self.stopping = False
        self.tick = tick  # seconds between heartbeats; a socket's deadlines are met within one tick
        self.timer: asyncio.TimerHandle | None = None
        self.slots: dict[int, list[Connection]] = {}  # slot number → the sockets due in it
        self.slot_order: list[int] = []  # the slot numbers, a heap

    def __len__(self) -> int:
        return len(self.open)

    def add(self, connection: Connection) -> None:
        self.open.add(connection)
        self._wait(connection)
        if self.stopping:  # accepted in the moment the server stopped
            connection.go_away()
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self.tick, self._beat)

    def discard(self, connection: Connection) -> None:
        self.open.discard(connection)  # its slot forgets it when the slot comes due

    def _wait(self, connection: Connection) -> None:
        deadline = connection.next_ping
        if not connection.greeted:  # hello may come any moment, and the first ping is due a ping interval after it
            deadline = min(deadline, time.monotonic() + connection.settings.ping_interval)
        slot = math.ceil(deadline / self.tick)
        waiting = self.slots.get(slot)
        if waiting is None:
            self.slots[slot] = waiting = []
            heapq.heappush(self.slot_order, slot)
        waiting.append(connection)

    def _beat(self) -> None:
        now = time.monotonic()
        current = math.floor(now / self.tick)
        while self.slot_order and self.slot_order[0] <= current:
            for connection in self.slots.pop(heapq.heappop(self.slot_order)):
                if connection not in self.open:
                    continue
                try:
                    connection.beat(now)
                except Exception as error:  # one socket's fault must not stop the others' heartbeat
                    log.error("heartbeat: %s", describe(error))
                if not connection.closing:
                    self._wait(connection)  # at its next deadline, which may have moved (hello said)
        self.timer = asyncio.get_running_loop().call_later(self.tick, self._beat) if self.open else None

    async def close_all(self, timeout: float) -> None:
        """Close every socket with 1001 (going away) and wait up to ``timeout`` s for them to finish.

        Clients reconnect, to another node if there is one. Nobody has left their consultation,
        so the durable state stays as it is (``waiting``, ``admitted``): the sockets' close
        handlers, which would record a leave, do not run, just as when a node dies.
        """
        self.stopping = True
        for connection in list(self.open):
            connection.go_away()
        deadline = time.monotonic() + timeout
        while self.open and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
