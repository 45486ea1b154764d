"""The WebSocket signaling endpoint: one socket per participant.

Each socket is a :class:`~visitt.live.connections.Connection`, read by :func:`run` and handled by a
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
import inspect
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Literal

from sqlalchemy import select
from starlette.websockets import WebSocket, WebSocketDisconnect

from visitt import access
from visitt.live import protocol, protocol_sfu
from visitt.accounts import staff_for_session
from visitt.live.connections import (
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN,
    Connection,
    Connections,
    Lifecycle,
    PeerLink,
)
from visitt.store.db import outage
from visitt.errors import Forbidden, NotFound, describe
from visitt.live.hub import Hub
from visitt.joining import PASS_COOKIE, check_window, guest
from visitt.limiter import Slots, too_many_sockets
from visitt.live.live_room import LiveRoom
from visitt.store.models import Participant, ParticipantState, RoomState
from visitt.live.permissions import Action
from visitt.rooms import GuestRecord, guest_for_token
from visitt.settings import Settings

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
        connection.advance(Lifecycle.CLOSING)
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
    """What a guest's messages do, from the handshake to the socket closing: each message type is an
    operation of the lobby, the call or presence (:data:`GUEST_OPERATIONS`), which checks itself that
    this guest may do it (:mod:`visitt.live.permissions`). A co-host is a guest session whose connection
    carries their staff account: the same table gives them the host's powers while in the call.

    It runs where the room lives: on this node, or - with several nodes - on the node that holds
    the room's clinician (:mod:`visitt.live.cluster`), ``connection`` then standing in for a socket on
    another node.
    """

    def __init__(self, state: Any, connection: PeerLink, record: GuestRecord, room: LiveRoom) -> None:
        self.state, self.connection, self.record, self.room = state, connection, record, room
        self.hub: Hub = state.hub
        self.language = "nb"  # of the page, as its knock said: the consent text it showed
    @classmethod
    async def open(cls, state: Any, connection: PeerLink, record: GuestRecord) -> GuestSession:
        room = await state.hub.hold(record.room)
        connection.identified = record.identified
        connection.participant_id = record.participant_id
        connection.place = record.public_id
        return cls(state, connection, record, room)

    async def handle(self, message: object) -> None:
        await _run(GUEST_OPERATIONS[type(message)](self, message))

    def welcome(self) -> None:
        room, record, connection = self.room, self.record, self.connection
        state: Literal["ready", "denied", "ended"] = "ended" if room.state is RoomState.ended else (
            "denied" if record.state is ParticipantState.denied else "ready")
        connection.send(protocol.encode(protocol.Welcome(version=protocol.VERSION, id=connection.id,
                                                         role=connection.role, name=connection.name, state=state)))

    def knock(self, message: protocol.Knock) -> Awaitable[None]:
        # a co-host is who their staff account says, whatever the page sends
        name = self.connection.name if self.connection.cohost else message.name
        self.language = message.language or self.language
        # a place the database still gives a page (a node that restarted knows of no live one) is not free
        held = self.record.state in (ParticipantState.waiting, ParticipantState.admitted) \
            and self.record.place_key_hash is not None
        return self.hub.lobby.knock(self.room, self.connection, name,
                                    check=partial(check_window, settings=self.state.settings), held_elsewhere=held,
                                    language=self.language)

    async def leave(self) -> None:
        await self.hub.presence.leave(self.room, self.connection)
        self.connection.send(protocol.encode(protocol.Bye()))

    def own_room(self, message: Any) -> LiveRoom:
        """The room a host action names: only ever this guest's own (a co-host acts in the one consultation
        they were invited to)."""
        if message.room != self.room.public_id:
            raise Forbidden("a co-host acts only in the consultation they were invited to", code="forbidden")
        return self.room

    async def close(self) -> None:
        try:
            await self.hub.presence.dropped(self.room, self.connection)
        finally:
            self.hub.release(self.room)


class StaffSession:
    """What a clinician's messages do: the dashboard, and the call they are in (at most one). Each
    message type is an operation (:data:`STAFF_OPERATIONS`) on the room it names, or on the call the
    clinician is in; the operation checks that this clinician hosts that room."""

    def __init__(self, state: Any, connection: PeerLink, identity: StaffIdentity) -> None:
        self.state, self.connection, self.identity = state, connection, identity
        self.hub: Hub = state.hub
        self.current: list[LiveRoom] = []

    @classmethod
    async def open(cls, state: Any, connection: PeerLink, identity: StaffIdentity) -> StaffSession:
        return cls(state, connection, identity)

    async def handle(self, message: object) -> None:
        await _run(STAFF_OPERATIONS[type(message)](self, message))

    def welcome(self) -> None:
        self.connection.send(protocol.encode(protocol.Welcome(version=protocol.VERSION, id=self.connection.id,
                                           role="host", name=self.connection.name, state="ready")))
        self.hub.dashboards.watch(self.identity.staff_id, self.connection)

    def in_call(self) -> LiveRoom:
        """The room of the call the clinician is in."""
        if not self.current:
            raise Forbidden("you are not in a call", code="not_in_call")
        return self.current[0]

    async def on_room(self, message: Any, operation: Callable[[LiveRoom], Awaitable[None]]) -> None:
        """``operation`` on the room ``message`` names, held meanwhile. A room that does not exist is answered
        like one this clinician does not host, so room ids cannot be tried for existence."""
        try:
            room = await self.hub.hold(message.room)
        except NotFound:
            raise Forbidden("host may not act here", code="forbidden") from None
        try:
            await operation(room)
        finally:
            self.hub.release(room)

    async def into_call(self, message: Any, operation: Callable[[LiveRoom], Awaitable[None]]) -> None:
        """``operation`` (enter, admit) puts the clinician into the call of the room ``message`` names.
        The call they were in is left only once the new one has taken them: a failed admit (the guest
        gave up a moment ago) must not drop the patient they talk to."""
        async def then_move(room: LiveRoom) -> None:
            previous = self.current[0] if self.current else None
            await operation(room)
            if previous is not room and room.in_call.get(self.connection.id) is self.connection:
                self.current[:] = [await self.hub.hold(room.public_id)]
                if previous is not None:
                    await self.hub.presence.host_leaves(previous, self.connection)
                    self.hub.release(previous)

        await self.on_room(message, then_move)

    async def end(self, message: protocol.End | protocol.ContinueByPhone, *, by_phone: bool = False) -> None:
        async def end(room: LiveRoom) -> None:
            if by_phone:
                await self.hub.continue_by_phone(room, self.connection)
            else:
                await self.hub.end(room, self.connection)
            if self.current and self.current[0] is room:
                self.hub.release(self.current.pop())

        await self.on_room(message, end)

    async def leave(self) -> None:
        self.hub.check(self.in_call(), self.connection, Action.LEAVE)
        room = self.current.pop()
        await self.hub.presence.host_leaves(room, self.connection)
        self.hub.release(room)
        self.connection.send(protocol.encode(protocol.Bye()))

    async def close(self) -> None:
        self.hub.dashboards.unwatch(self.identity.staff_id, self.connection)
        if self.current:
            room = self.current.pop()
            try:
                await self.hub.presence.dropped(room, self.connection)
            finally:
                self.hub.release(room)


async def _run(result: object) -> None:
    """Wait for an operation that is a coroutine; the synchronous ones are done already."""
    if inspect.isawaitable(result):
        await result


Operation = Callable[[Any, Any], object]
# Message type → what it does; the operation checks the actor's role itself (visitt.live.permissions).
GUEST_OPERATIONS: dict[type, Operation] = {
    protocol.Hello: lambda s, m: s.welcome(),
    protocol.Knock: lambda s, m: s.knock(m),
    protocol.Rejoin: lambda s, m: s.hub.presence.rejoin(
        s.room, s.connection, stored_state=s.record.state, key=m.key, stored_key=s.record.place_key_hash),
    protocol.Leave: lambda s, m: s.leave(),
    protocol.Media: lambda s, m: s.hub.call.media(s.room, s.connection, m),
    protocol.Signal: lambda s, m: s.hub.call.relay(s.room, s.connection, m),
    protocol.OfferAhead: lambda s, m: s.hub.lobby.offer_ahead(s.room, s.connection, m.sdp),
    protocol.Chat: lambda s, m: s.hub.call.chat(s.room, s.connection, m),
    protocol_sfu.SfuPublish: lambda s, m: s.hub.sfu.publish(s.room, s.connection, m.page, m.sdp, m.e2ee),
    protocol_sfu.SfuSubscribe: lambda s, m: s.hub.sfu.subscribe(s.room, s.connection, m.page, m.participant, m.video,
                                                              m.sub),
    protocol_sfu.SfuStart: lambda s, m: s.hub.sfu.start(s.room, s.connection, m.participant, m.sub, m.sdp),
    protocol_sfu.SfuLayer: lambda s, m: s.hub.sfu.layer(s.room, s.connection, m.participant, m.sub, m.layer),
    protocol_sfu.SfuRestart: lambda s, m: s.hub.sfu.restart(s.room, s.connection, m.page, m.sdp),
    protocol_sfu.SfuReoffer: lambda s, m: s.hub.sfu.reoffer(s.room, s.connection, m.page, m.participant, m.sub),
    protocol.Pause: lambda s, m: s.hub.call.pause(s.room, s.connection, m.reason),
    protocol.Resume: lambda s, m: s.hub.call.resume(s.room, s.connection),
    protocol.RequestId: lambda s, m: s.hub.call.request_id(s.room, s.connection),
    protocol.Share: lambda s, m: s.hub.call.share(s.room, s.connection, m.on),
    protocol.Identify: lambda s, m: s.hub.call.identify(s.room, s.connection, m.participant, m.method, m.note),
    protocol.AskUnmute: lambda s, m: s.hub.call.ask_unmute(s.room, s.connection, m.to),
    protocol.Withdraw: lambda s, m: s.hub.withdraw(s.room, s.connection, s.language),
    protocol.Flowing: lambda s, m: s.hub.call.flowing(s.own_room(m), s.connection),
    protocol.Enter: lambda s, m: s.hub.call.enter(s.own_room(m), s.connection, resume=m.resume),
    protocol.Admit: lambda s, m: s.hub.lobby.admit(s.own_room(m), s.connection, m.participant),
    protocol.Deny: lambda s, m: s.hub.lobby.deny(s.own_room(m), s.connection, m.participant),
    protocol.Remove: lambda s, m: s.hub.call.remove(s.own_room(m), s.connection, m.participant),
    protocol.Lock: lambda s, m: s.hub.set_locked(s.own_room(m), s.connection, True),
    protocol.Unlock: lambda s, m: s.hub.set_locked(s.own_room(m), s.connection, False),
    protocol.End: lambda s, m: s.hub.end(s.own_room(m), s.connection),
    protocol.ContinueByPhone: lambda s, m: s.hub.continue_by_phone(s.own_room(m), s.connection),
    protocol.Late: lambda s, m: s.hub.lobby.late(s.connection, m.minutes),
}
STAFF_OPERATIONS: dict[type, Operation] = {
    protocol.Hello: lambda s, m: s.welcome(),
    # the dashboard has no room of its own: a clinician may not knock, rejoin or ask for ID anywhere
    protocol.Knock: lambda s, m: s.hub.check(None, s.connection, Action.KNOCK),
    protocol.Rejoin: lambda s, m: s.hub.check(None, s.connection, Action.REJOIN),
    protocol.RequestId: lambda s, m: s.hub.check(None, s.connection, Action.REQUEST_ID),
    protocol.Late: lambda s, m: s.hub.lobby.late(s.connection, m.minutes),
    protocol.Leave: lambda s, m: s.leave(),
    protocol.Media: lambda s, m: s.hub.call.media(s.in_call(), s.connection, m),
    protocol.Signal: lambda s, m: s.hub.call.relay(s.in_call(), s.connection, m),
    protocol.OfferAhead: lambda s, m: s.hub.check(None, s.connection, Action.OFFER_AHEAD),
    protocol.Chat: lambda s, m: s.hub.call.chat(s.in_call(), s.connection, m),
    protocol_sfu.SfuPublish: lambda s, m: s.hub.sfu.publish(s.in_call(), s.connection, m.page, m.sdp, m.e2ee),
    protocol_sfu.SfuSubscribe: lambda s, m: s.hub.sfu.subscribe(s.in_call(), s.connection, m.page, m.participant, m.video,
                                                              m.sub),
    protocol_sfu.SfuStart: lambda s, m: s.hub.sfu.start(s.in_call(), s.connection, m.participant, m.sub, m.sdp),
    protocol_sfu.SfuLayer: lambda s, m: s.hub.sfu.layer(s.in_call(), s.connection, m.participant, m.sub, m.layer),
    protocol_sfu.SfuRestart: lambda s, m: s.hub.sfu.restart(s.in_call(), s.connection, m.page, m.sdp),
    protocol_sfu.SfuReoffer: lambda s, m: s.hub.sfu.reoffer(s.in_call(), s.connection, m.page, m.participant, m.sub),
    protocol.Pause: lambda s, m: s.hub.call.pause(s.in_call(), s.connection, m.reason),
    protocol.Resume: lambda s, m: s.hub.call.resume(s.in_call(), s.connection),
    protocol.Identify: lambda s, m: s.hub.call.identify(s.in_call(), s.connection, m.participant, m.method, m.note),
    protocol.Share: lambda s, m: s.hub.call.share(s.in_call(), s.connection, m.on),
    protocol.AskUnmute: lambda s, m: s.hub.call.ask_unmute(s.in_call(), s.connection, m.to),
    protocol.Withdraw: lambda s, m: s.hub.check(None, s.connection, Action.WITHDRAW),
    protocol.Flowing: lambda s, m: s.on_room(m, lambda room: s.hub.call.flowing(room, s.connection)),
    protocol.Enter: lambda s, m: s.into_call(m, lambda room: s.hub.call.enter(room, s.connection, resume=m.resume)),
    protocol.Admit: lambda s, m: s.into_call(m, lambda room: s.hub.lobby.admit(room, s.connection, m.participant)),
    protocol.Deny: lambda s, m: s.on_room(m, lambda room: s.hub.lobby.deny(room, s.connection, m.participant)),
    protocol.Remove: lambda s, m: s.on_room(m, lambda room: s.hub.call.remove(room, s.connection, m.participant)),
    protocol.Lock: lambda s, m: s.on_room(m, lambda room: s.hub.set_locked(room, s.connection, True)),
    protocol.Unlock: lambda s, m: s.on_room(m, lambda room: s.hub.set_locked(room, s.connection, False)),
    protocol.End: lambda s, m: s.end(m),
    protocol.ContinueByPhone: lambda s, m: s.end(m, by_phone=True),
}


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
    # not per address (a hospital's staff often share one), but per account: a stolen or scripted sign-in
    # cannot hold the node's sockets
    slots: Slots = app.state.limiter.slots
    with slots.holding("sockets_staff", str(identity.staff_id)) as placed:
        if not placed:
            await too_many_sockets(websocket)
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
    with slots.holding("sockets_link", record.public_id) as placed, \
            slots.holding("sockets_staff", str(identity.staff_id)) as also:  # per invitation, and per account
        if not (placed and also):
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


def _cohost_record(database, participant: str,  # type: ignore[no-untyped-def]
                   token: str | None) -> tuple[GuestRecord, StaffIdentity] | None:
    """The invitation ``participant`` (a public id) if it names the staff account signed in with ``token``."""
    with database.session() as session:
        staff = staff_for_session(session, token)
        row = session.scalar(select(Participant).where(Participant.public_id == participant))
        if staff is None or row is None or not access.may(staff, access.Action.cohost, row):
            return None
        token_hash, identity = row.token_hash, StaffIdentity(staff.id, staff.full_name)
    record = guest_for_token(database, token_hash)
    return (record, identity) if record is not None else None


def _staff_identity(database, token: str | None) -> StaffIdentity | None:  # type: ignore[no-untyped-def]
    with database.session() as session:
        staff = staff_for_session(session, token)
        if staff is None or not access.may_host(staff):  # an active clinician, trained (the training gate)
            return None
        return StaffIdentity(staff.id, staff.full_name)
