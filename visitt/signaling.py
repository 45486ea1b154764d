"""The WebSocket signaling endpoint: one socket per participant.

Each socket is a :class:`~visitt.connections.Connection`, read by :func:`run` and handled by a
:class:`GuestSession` or a :class:`StaffSession`. Identity is fixed at the handshake - the
invitation token for a guest, the session cookie for staff - and never read from message fields.

Without the database nobody is let in: a socket that needs it to say who it is closes with 1013
(try again later), and a knock or admit that cannot be written fails with ``database_unavailable``.
What needs no database - signals between people already in a call, chat - goes on, and someone
whose socket drops comes back to their call: this node remembers who opened sockets lately
(:class:`Remembered`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from sqlalchemy import select
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import chat, protocol
from .accounts import staff_for_session
from .connections import (
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN,
    Connection,
    Connections,
    PeerLink,
)
from .db import outage
from .errors import Forbidden, ProtocolError, describe
from .hub import Hub, LiveRoom
from .joining import PASS_COOKIE, check_window, guest
from .limiter import Slots, too_many_sockets
from .models import Participant, ParticipantState, RoomState
from .rooms import GuestRecord, guest_for_token
from .settings import Settings

log = logging.getLogger("visitt.signaling")
@dataclass
class StaffIdentity:
    staff_id: int
    name: str


class Remembered:
    """Who opened a socket on this node lately, by a digest of the credentials they showed
    (``app.state.remembered``). Asked only while the database is down, and only for someone in a
    call on this node: a participant whose socket drops mid-call can then come back and take their
    place again (``rejoin``, ``enter``), which needs no database. Nobody else gets in on old
    credentials (a session signed out since, say). The oldest are forgotten first."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.found: OrderedDict[str, Any] = OrderedDict()

    @staticmethod
    def key(*credentials: Any) -> str:
        return hashlib.sha256(repr(credentials).encode()).hexdigest()

    def remember(self, key: str, found: Any) -> None:
        self.found[key] = found
        self.found.move_to_end(key)
        while len(self.found) > self.size:
            self.found.popitem(last=False)

    def forget(self, key: str) -> None:
        self.found.pop(key, None)

    def recall(self, key: str) -> Any:
        return self.found.get(key)


def origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:  # not a browser; browsers always send Origin on WebSockets
        return True
    allowed = set(settings.allowed_origins)
    if settings.public_url:  # the configured address only: a Host header can be made to say anything
        allowed.add(settings.public_url)
    else:
        host = websocket.headers.get("host", "")
        allowed.update({f"http://{host}", f"https://{host}"})
    return origin.rstrip("/") in allowed


async def run(connection: Connection, handle, on_close) -> None:  # type: ignore[no-untyped-def]
    """Accept, then read until the socket closes; ``handle`` takes each message."""
    websocket = connection.websocket
    connections: Connections = websocket.app.state.connections
    await websocket.accept()
    connections.add(connection)
    try:
        async for message in connection.messages():
            try:
                await handle(message)
            except Exception as error:  # reported to this client; the socket and the room go on
                connection.fail(error)
    except WebSocketDisconnect:
        pass
    except Exception as error:  # never let one connection's fault escape into the server
        connection.fail(error)
    finally:
        connection.closing = True
        try:
            if not connection.going_away:  # see Connections.close_all
                await on_close()
        except Exception as error:  # e.g. the database away: the leave goes unrecorded; a knock mends it
            log.error("signaling: closing: %s", describe(error))
        finally:
            connections.discard(connection)
            connection.pending.clear()
            if connection.writing is not None:
                connection.writing.cancel()
                await asyncio.gather(connection.writing, return_exceptions=True)


class GuestSession:
    """What a guest's messages do, from the handshake to the socket closing.

    It runs where the room lives: on this node, or - with several nodes - on the node that holds
    the room's clinician (:mod:`visitt.cluster`), ``connection`` then standing in for a socket on
    another node.
    """

    def __init__(self, state: Any, connection: PeerLink, record: GuestRecord, room: LiveRoom) -> None:
        self.state, self.connection, self.record, self.room = state, connection, record, room
        self.hub: Hub = state.hub

    @classmethod
    async def open(cls, state: Any, connection: PeerLink, record: GuestRecord) -> GuestSession:
        room = await state.hub.hold(record.room)
        connection.identified = record.identified
        return cls(state, connection, record, room)

    async def handle(self, message: object) -> None:
        hub, room, record, connection = self.hub, self.room, self.record, self.connection
        if isinstance(message, protocol.Hello):
            state = "ended" if room.state is RoomState.ended else (
                "denied" if record.state is ParticipantState.denied else "ready")
            connection.send(protocol.dump("welcome", version=protocol.VERSION, id=connection.id,
                                          role=connection.role, name=connection.name, state=state))
        elif isinstance(message, protocol.Knock):
            # a co-host is who their staff account says, whatever the page sends
            name = connection.name if connection.cohost else message.name
            await hub.knock(room, connection, record.participant_id, name,
                            check=partial(check_window, settings=self.state.settings))
        elif isinstance(message, protocol.Rejoin):
            await hub.rejoin(room, connection, record.participant_id,
                            was_admitted=record.state is ParticipantState.admitted)
        elif isinstance(message, protocol.Leave):
            await hub.guest_gone(room, connection, record.participant_id)
            connection.send(protocol.dump("bye"))
        elif isinstance(message, protocol.Media):
            await _media(room, connection, message)
        elif isinstance(message, protocol.Signal):
            hub.relay(room, connection, message)
        elif isinstance(message, protocol.Chat):
            chat.deliver(room, connection, message)
        elif isinstance(message, protocol.Pause):
            await hub.pause(room, connection, message.reason)
        elif isinstance(message, protocol.RequestId):
            await hub.request_id(room, connection)
        elif isinstance(message, protocol.Share):
            if message.on and not (connection.cohost or self.state.settings.patients_may_share):
                raise Forbidden("only the clinician can share a window", code="share_not_allowed")
            hub.share(room, connection, message.on)
        elif isinstance(message, protocol.HOST_ONLY):
            if not connection.cohost:
                raise Forbidden("only the clinician can do that", code="not_host")
            await self._as_cohost(message)

    async def _as_cohost(self, message: object) -> None:
        """A co-host's host powers: in their own room, while they are in the call, and never End (the
        consultation belongs to the clinician who hosts it)."""
        hub, room, connection = self.hub, self.room, self.connection
        if isinstance(message, (protocol.End, protocol.Enter, protocol.Late)):
            raise Forbidden("only the consultation's own clinician can do that", code="not_host")
        if getattr(message, "room", room.public_id) != room.public_id:
            raise Forbidden("a co-host acts only in the consultation they were invited to", code="not_host")
        if room.in_call.get(connection.id) is not connection:
            raise Forbidden("a co-host acts only while in the call", code="not_in_call")
        actor = f"staff:{connection.staff_id}"
        if isinstance(message, protocol.Admit):
            await hub.admit(room, connection, message.participant)
        elif isinstance(message, protocol.Deny):
            await hub.deny(room, message.participant, actor=actor)
        elif isinstance(message, protocol.Remove):
            await hub.remove(room, connection, message.participant)
        elif isinstance(message, (protocol.Lock, protocol.Unlock)):
            await hub.set_locked(room, isinstance(message, protocol.Lock), actor=actor)
        elif isinstance(message, protocol.Resume):
            await hub.resume(room, connection)
        elif isinstance(message, protocol.Identify):
            await hub.identify(room, connection, message.participant, message.method, message.note)
        elif isinstance(message, protocol.AskUnmute):
            await hub.ask_unmute(room, connection, message.to)

    async def close(self) -> None:
        try:
            await self.hub.dropped(self.room, self.connection, self.record.participant_id)
        finally:
            self.hub.release(self.room)


class StaffSession:
    """What a clinician's messages do: the dashboard, and the call they are in (at most one)."""

    def __init__(self, state: Any, connection: PeerLink, identity: StaffIdentity) -> None:
        self.state, self.connection, self.identity = state, connection, identity
        self.hub: Hub = state.hub
        self.current: list[LiveRoom] = []

    @classmethod
    async def open(cls, state: Any, connection: PeerLink, identity: StaffIdentity) -> StaffSession:
        return cls(state, connection, identity)

    async def handle(self, message: object) -> None:
        hub, connection, identity, current = self.hub, self.connection, self.identity, self.current
        if isinstance(message, protocol.Hello):
            connection.send(protocol.dump("welcome", version=protocol.VERSION, id=connection.id,
                                          role="host", name=connection.name, state="ready"))
            hub.dashboards.watch(identity.staff_id, connection)
            return
        if isinstance(message, (protocol.Knock, protocol.Rejoin)):
            raise ProtocolError("staff do not knock; they enter", code="not_allowed")
        if isinstance(message, protocol.RequestId):
            raise ProtocolError("only a guest asks the clinician for ID", code="not_allowed")
        if isinstance(message, protocol.Late):
            hub.late(identity.staff_id, message.minutes)
            return
        if isinstance(message, (protocol.Leave, protocol.Media, protocol.Signal, protocol.Pause, protocol.Resume,
                                protocol.Identify, protocol.Chat, protocol.Share, protocol.AskUnmute)):
            if not current:
                raise ProtocolError("you are not in a call", code="not_in_call")
            if isinstance(message, protocol.Leave):
                room = current.pop()
                await hub.host_gone(room, connection)
                hub.release(room)
                connection.send(protocol.dump("bye"))
            elif isinstance(message, protocol.Media):
                await _media(current[0], connection, message)
            elif isinstance(message, protocol.Pause):
                await hub.pause(current[0], connection, message.reason)
            elif isinstance(message, protocol.Resume):
                await hub.resume(current[0], connection)
            elif isinstance(message, protocol.Identify):
                await hub.identify(current[0], connection, message.participant, message.method, message.note)
            elif isinstance(message, protocol.Chat):
                chat.deliver(current[0], connection, message)
            elif isinstance(message, protocol.Share):
                hub.share(current[0], connection, message.on)
            elif isinstance(message, protocol.AskUnmute):
                await hub.ask_unmute(current[0], connection, message.to)
            else:
                hub.relay(current[0], connection, message)
            return
        room = await hub.host_room(identity.staff_id, message.room)  # type: ignore[attr-defined]
        try:
            if isinstance(message, (protocol.Enter, protocol.Admit)):
                previous = current[0] if current else None
                if isinstance(message, protocol.Enter):
                    await hub.enter(room, connection, resume=message.resume)
                else:
                    await hub.admit(room, connection, message.participant)
                # leave the call the host was in only once the new one has taken them: a failed
                # admit (the guest gave up a moment ago) must not drop the patient they talk to
                if previous is not room:
                    current[:] = [await hub.hold(room.public_id)]
                    if previous is not None:
                        await hub.host_gone(previous, connection)
                        hub.release(previous)
            elif isinstance(message, protocol.Deny):
                await hub.deny(room, message.participant)
            elif isinstance(message, protocol.Remove):
                await hub.remove(room, connection, message.participant)
            elif isinstance(message, (protocol.Lock, protocol.Unlock)):
                await hub.set_locked(room, isinstance(message, protocol.Lock))
            elif isinstance(message, protocol.End):
                await hub.end(room)
                if current and current[0] is room:
                    hub.release(current.pop())
        finally:
            hub.release(room)

    async def close(self) -> None:
        self.hub.dashboards.unwatch(self.identity.staff_id, self.connection)
        if self.current:
            room = self.current.pop()
            try:
                await self.hub.dropped(room, self.connection, None)
            finally:
                self.hub.release(room)


async def try_again_later(websocket: WebSocket) -> None:
    """Close with 1013 (try again later). Accepted first: a socket refused during the handshake
    reaches the browser as a failed connection (1006), with no code to act on."""
    await websocket.accept()
    await websocket.close(CLOSE_TRY_AGAIN, "try again later")


async def _look_up(websocket: WebSocket, find: Callable[..., Any], *args: Any) -> Any:
    """``find(database, *args)`` in a thread: who the socket is, or None once it has been closed -
    with 1008 when nobody matches, with 1013 when the database cannot say and this node has not
    seen these credentials lately (:class:`Remembered`)."""
    remembered: Remembered = websocket.app.state.remembered
    key = remembered.key(find.__name__, *args)
    try:
        found = await asyncio.to_thread(find, websocket.app.state.database, *args)
    except Exception as error:
        if outage(error) is None:
            raise
        found = remembered.recall(key)
        if found is not None and not _in_a_call(websocket.app.state.hub, found):
            found = None
        log.warning("signaling: database unavailable at the handshake (%s): %s",
                    "remembered" if found is not None else "try again later", describe(error))
        if found is None:
            await try_again_later(websocket)
        return found
    if found is None:
        remembered.forget(key)
        await websocket.close(CLOSE_POLICY)
    else:
        remembered.remember(key, found)
    return found


async def guest_endpoint(websocket: WebSocket) -> None:
    app = websocket.app
    settings: Settings = app.state.settings
    if not origin_allowed(websocket, settings):
        await websocket.close(CLOSE_POLICY)
        return
    # open sockets are capped per client address (as uvicorn read it, X-Forwarded-For from a trusted
    # proxy included) and per invitation; the places are given back when the socket closes
    slots: Slots = app.state.limiter.slots
    with slots.holding("sockets_address", websocket.client.host if websocket.client else "") as placed:
        if not placed:
            await too_many_sockets(websocket)
            return
        # /ws/v/{token} from the SMS link, or /ws/v with the guest pass that a correct code earned
        record: GuestRecord | None = await _look_up(websocket, guest, websocket.path_params.get("token"),
                                                    websocket.cookies.get(PASS_COOKIE))
        if record is None:
            return
        with slots.holding("sockets_link", record.public_id) as placed:
            if not placed:
                await too_many_sockets(websocket)
                return
            connection = Connection(websocket, settings, peer_id=record.public_id, role=record.kind,
                                    name=record.name)
            await app.state.cluster.serve(connection, shard=record.host_id, kind="guest", payload=record.to_json())


async def staff_endpoint(websocket: WebSocket) -> None:
    app = websocket.app
    settings: Settings = app.state.settings
    if not origin_allowed(websocket, settings):
        await websocket.close(CLOSE_POLICY)
        return
    identity: StaffIdentity | None = await _look_up(websocket, _staff_identity, websocket.cookies.get("visitt_session"))
    if identity is None:
        return
    connection = Connection(websocket, settings, peer_id=f"s{identity.staff_id}", role="host", name=identity.name,
                            staff_id=identity.staff_id)
    await app.state.cluster.serve(connection, shard=identity.staff_id, kind="staff", payload=asdict(identity))


async def cohost_endpoint(websocket: WebSocket) -> None:
    """``/ws/cohost/{participant}``: a colleague invited with their staff account, signed in as it. The
    invitation's guest socket - knock, waiting room, admission - with the host's powers once in the call."""
    app = websocket.app
    settings: Settings = app.state.settings
    if not origin_allowed(websocket, settings):
        await websocket.close(CLOSE_POLICY)
        return
    found = await _look_up(websocket, _cohost_record, websocket.path_params["participant"],
                           websocket.cookies.get("visitt_session"))
    if found is None:
        return
    record, identity = found
    slots: Slots = app.state.limiter.slots
    with slots.holding("sockets_link", record.public_id) as placed:  # as a guest's: per invitation
        if not placed:
            await too_many_sockets(websocket)
            return
        connection = Connection(websocket, settings, peer_id=record.public_id, role=record.kind, name=identity.name,
                                staff_id=identity.staff_id, cohost=True)
        # the invitation's guest session, in the room's clinician's shard; the co-host powers go with the connection
        await app.state.cluster.serve(connection, shard=record.host_id, kind="guest", payload=record.to_json())


def _in_a_call(hub: Hub, found: Any) -> bool:
    """Whether who ``found`` names (a guest, a co-host or a clinician) has a place in a call on this node."""
    if isinstance(found, StaffIdentity):
        peer, rooms = f"s{found.staff_id}", [room for room in hub.rooms.values() if room.host_id == found.staff_id]
    else:
        record: GuestRecord = found[0] if isinstance(found, tuple) else found  # a co-host: (record, identity)
        peer, rooms = record.public_id, [room for room in [hub.rooms.get(record.room)] if room is not None]
    return any(peer in room.in_call for room in rooms)


async def _media(room: LiveRoom, connection: PeerLink, message: protocol.Media) -> None:
    connection.audio, connection.video = message.audio, message.video
    if room.in_call.get(connection.id) is connection:
        room.broadcast(protocol.dump("updated", participant=connection.info()))


def _cohost_record(database, participant: str,  # type: ignore[no-untyped-def]
                   token: str | None) -> tuple[GuestRecord, StaffIdentity] | None:
    """The invitation ``participant`` (a public id) if it names the staff account signed in with ``token``."""
    with database.session() as session:
        staff = staff_for_session(session, token)
        row = session.scalar(select(Participant).where(Participant.public_id == participant))
        if staff is None or staff.role.value != "clinician" or row is None or row.staff_id != staff.id:
            return None
        token_hash, identity = row.token_hash, StaffIdentity(staff.id, staff.full_name)
    record = guest_for_token(database, token_hash)
    return (record, identity) if record is not None else None


def _staff_identity(database, token: str | None) -> StaffIdentity | None:  # type: ignore[no-untyped-def]
    with database.session() as session:
        staff = staff_for_session(session, token)
        if staff is None or staff.role.value != "clinician":
            return None
        return StaffIdentity(staff.id, staff.full_name)
