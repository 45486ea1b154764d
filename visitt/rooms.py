"""Rooms and the people in them: the two state machines and the live room hub.

The database holds the durable state (room open/locked/ended, each invitation's participant
state) and the audit trail; the hub holds who is connected right now. Every transition goes
through :func:`move_participant` or :func:`move_room`, which check the move, persist it and
write its audit row in one unit of work.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select

from . import audit, protocol
from .db import Database
from .errors import Conflict, Forbidden, IllegalTransition, NotFound, ProtocolError
from .models import AppointmentState, Participant, ParticipantState, Room, RoomState, utcnow

P = ParticipantState
PARTICIPANT_MOVES: dict[ParticipantState, frozenset[ParticipantState]] = {
    P.invited: frozenset({P.waiting}),
    P.waiting: frozenset({P.admitted, P.denied, P.invited}),  # invited again: closed the page while waiting
    P.admitted: frozenset({P.left, P.removed}),
    P.denied: frozenset({P.waiting}),
    P.left: frozenset({P.waiting}),
    P.removed: frozenset({P.waiting}),
}
ROOM_MOVES: dict[RoomState, frozenset[RoomState]] = {
    RoomState.open: frozenset({RoomState.locked, RoomState.ended}),
    RoomState.locked: frozenset({RoomState.open, RoomState.ended}),
    RoomState.ended: frozenset(),
}
APPOINTMENT_MOVES: dict[AppointmentState, frozenset[AppointmentState]] = {
    AppointmentState.booked: frozenset({AppointmentState.in_progress, AppointmentState.no_show,
                                        AppointmentState.cancelled}),
    AppointmentState.in_progress: frozenset({AppointmentState.completed, AppointmentState.technical_failure}),
    AppointmentState.completed: frozenset(),
    AppointmentState.no_show: frozenset(),
    AppointmentState.technical_failure: frozenset(),
    AppointmentState.cancelled: frozenset(),
}


def check_participant_move(current: ParticipantState, target: ParticipantState) -> None:
    if target not in PARTICIPANT_MOVES[current]:
        raise IllegalTransition("participant", current.value, target.value)


def check_room_move(current: RoomState, target: RoomState) -> None:
    if target not in ROOM_MOVES[current]:
        raise IllegalTransition("room", current.value, target.value)


def check_appointment_move(current: AppointmentState, target: AppointmentState) -> None:
    if target not in APPOINTMENT_MOVES[current]:
        raise IllegalTransition("appointment", current.value, target.value)


# --- durable side ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GuestRecord:
    participant_id: int
    public_id: str
    room: str
    kind: str
    state: ParticipantState
    name: str


def move_participant(database: Database, participant_id: int, target: ParticipantState, *, actor: str,
                     action: str | None, name: str | None = None) -> None:
    with database.session() as session:
        participant = session.get(Participant, participant_id, with_for_update=True)
        if participant is None:
            raise NotFound("no such participant")
        check_participant_move(participant.state, target)
        participant.state = target
        if name is not None:
            participant.display_name = name
        room = participant.room
        if target is P.admitted and room.appointment and room.appointment.state is AppointmentState.booked:
            room.appointment.state = AppointmentState.in_progress
        if action:
            audit.record(session, actor, action, room_id=room.id, subject=f"participant:{participant.public_id}")


def move_room(database: Database, room_id: int, target: RoomState, *, actor: str, action: str) -> None:
    with database.session() as session:
        room = session.get(Room, room_id, with_for_update=True)
        if room is None:
            raise NotFound("no such room")
        check_room_move(room.state, target)
        room.state = target
        if target is RoomState.ended:
            room.ended_at = utcnow()
            appointment = room.appointment
            if appointment is not None and appointment.state is AppointmentState.in_progress:
                appointment.state = AppointmentState.completed
            for participant in room.participants:
                if participant.state in (P.waiting, P.admitted):
                    participant.state = P.left if participant.state is P.admitted else P.invited
        audit.record(session, actor, action, room_id=room.id)


def guest_for_token(database: Database, token_hash: str) -> GuestRecord | None:
    with database.session() as session:
        participant = session.scalar(select(Participant).where(Participant.token_hash == token_hash))
        if participant is None:
            return None
        return GuestRecord(participant.id, participant.public_id, participant.room.public_id, participant.kind,
                           participant.state, participant.display_name)


# --- live side ------------------------------------------------------------------------------


class Peer(Protocol):
    """A connected participant, as the hub sees it (``signaling.Connection`` implements this)."""

    id: str
    role: str
    name: str
    audio: bool
    video: bool

    def send(self, text: str) -> None: ...

    def info(self) -> protocol.PeerInfo: ...


@dataclass
class LiveRoom:
    db_id: int
    public_id: str
    host_id: int
    state: RoomState
    starts_at: dt.datetime | None
    in_call: dict[str, Peer] = field(default_factory=dict)
    waiting: dict[str, tuple[Peer, int, dt.datetime]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def locked(self) -> bool:
        return self.state is RoomState.locked

    def broadcast(self, text: str, *, skip: str | None = None) -> None:
        for peer_id, peer in list(self.in_call.items()):
            if peer_id != skip:
                peer.send(text)

    def summary(self) -> str:
        return protocol.dump("room", id=self.public_id, locked=self.locked, state=self.state.value)


class Hub:
    """Every room that has someone connected on this node, and the hosts' dashboards."""

    def __init__(self, database: Database, *, auto_lock: bool = True, max_participants: int = 5) -> None:
        self.database = database
        self.auto_lock = auto_lock
        self.max_participants = max_participants
        self.rooms: dict[str, LiveRoom] = {}
        self.dashboards: dict[int, set[Peer]] = {}

    async def room(self, public_id: str) -> LiveRoom:
        live = self.rooms.get(public_id)
        if live is None:
            live = await asyncio.to_thread(self._load, public_id)
            live = self.rooms.setdefault(public_id, live)
        return live

    def _load(self, public_id: str) -> LiveRoom:
        with self.database.session() as session:
            room = session.scalar(select(Room).where(Room.public_id == public_id))
            if room is None:
                raise NotFound("no such room", code="unknown_room")
            starts_at = room.appointment.starts_at if room.appointment else None
            return LiveRoom(room.id, room.public_id, room.host_id, room.state, starts_at)

    async def host_room(self, staff_id: int, public_id: str) -> LiveRoom:
        room = await self.room(public_id)
        if room.host_id != staff_id:
            raise Forbidden("only this consultation's clinician can do that", code="not_host")
        if room.state is RoomState.ended:
            raise Conflict("the consultation has ended", code="room_ended")
        return room

    # dashboards ---------------------------------------------------------------------------------

    def watch(self, staff_id: int, peer: Peer) -> None:
        self.dashboards.setdefault(staff_id, set()).add(peer)
        peer.send(self.lobby(staff_id))

    def unwatch(self, staff_id: int, peer: Peer) -> None:
        self.dashboards.get(staff_id, set()).discard(peer)

    def lobby(self, staff_id: int) -> str:
        waiting = [
            protocol.WaitingInfo(room=room.public_id, id=peer.id, name=peer.name, kind=peer.role,
                                 since=since.isoformat(), starts_at=room.starts_at.isoformat() if room.starts_at
                                 else None)
            for room in self.rooms.values() if room.host_id == staff_id
            for peer, _pid, since in room.waiting.values()
        ]
        return protocol.dump("lobby", waiting=waiting)

    def _tell_host(self, room: LiveRoom, text: str | None = None) -> None:
        for peer in self.dashboards.get(room.host_id, ()):
            if text:
                peer.send(text)
            peer.send(self.lobby(room.host_id))

    # guests -------------------------------------------------------------------------------------

    async def knock(self, room: LiveRoom, guest: Peer, participant_id: int, name: str) -> None:
        name = " ".join(name.split())
        if not name:
            raise ProtocolError("enter your full name", code="name_required")
        async with room.lock:
            if room.state is RoomState.ended:
                raise Conflict("the consultation has ended", code="room_ended")
            if guest.id in room.waiting or guest.id in room.in_call:
                raise Conflict("already knocked", code="already_knocked")
            await asyncio.to_thread(move_participant, self.database, participant_id, P.waiting,
                                    actor=f"participant:{guest.id}", action="knock", name=name)
            guest.name = name
            room.waiting[guest.id] = (guest, participant_id, utcnow())
        guest.send(protocol.dump("waiting"))
        self._tell_host(room, protocol.dump("knock", room=room.public_id, participant=protocol.WaitingInfo(
            room=room.public_id, id=guest.id, name=name, kind=guest.role, since=utcnow().isoformat())))

    async def guest_gone(self, room: LiveRoom, guest: Peer, participant_id: int) -> None:
        """The guest's connection closed or they pressed Leave."""
        async with room.lock:
            if room.waiting.pop(guest.id, None) is not None:
                await asyncio.to_thread(move_participant, self.database, participant_id, P.invited,
                                        actor=f"participant:{guest.id}", action=None)
                self._tell_host(room)
            elif room.in_call.get(guest.id) is guest:
                del room.in_call[guest.id]
                await asyncio.to_thread(move_participant, self.database, participant_id, P.left,
                                        actor=f"participant:{guest.id}", action="leave")
                room.broadcast(protocol.dump("left", participant=guest.id))

    # host actions -------------------------------------------------------------------------------

    async def enter(self, room: LiveRoom, host: Peer) -> None:
        async with room.lock:
            self._enter_locked(room, host)

    def _enter_locked(self, room: LiveRoom, host: Peer) -> None:
        current = room.in_call.get(host.id)
        if current is host:
            return
        if current is not None:  # the same clinician from another tab takes over
            current.send(protocol.dump("error", code="replaced", message="opened in another window"))
            room.in_call.pop(host.id)
            room.broadcast(protocol.dump("left", participant=host.id))
        others = [peer.info() for peer in room.in_call.values()]
        room.in_call[host.id] = host
        host.send(protocol.dump("admitted", room=room.public_id, locked=room.locked, participants=others))
        room.broadcast(protocol.dump("joined", participant=host.info()), skip=host.id)

    async def admit(self, room: LiveRoom, host: Peer, guest_id: str) -> None:
        async with room.lock:
            entry = room.waiting.get(guest_id)
            if entry is None:
                raise NotFound("that person is no longer waiting", code="not_waiting")
            guest, participant_id, _since = entry
            newcomers = 1 + (host.id not in room.in_call)
            if len(room.in_call) + newcomers > self.max_participants:
                raise Conflict(f"at most {self.max_participants} people can be in a call", code="room_full")
            await asyncio.to_thread(move_participant, self.database, participant_id, P.admitted,
                                    actor=f"staff:{room.host_id}", action="admit")
            del room.waiting[guest_id]
            self._enter_locked(room, host)
            others = [peer.info() for peer in room.in_call.values()]
            room.in_call[guest.id] = guest
            if self.auto_lock and room.state is RoomState.open:
                await asyncio.to_thread(move_room, self.database, room.db_id, RoomState.locked,
                                        actor=f"staff:{room.host_id}", action="lock")
                room.state = RoomState.locked
                room.broadcast(room.summary(), skip=guest.id)
        guest.send(protocol.dump("admitted", room=room.public_id, locked=room.locked, participants=others))
        room.broadcast(protocol.dump("joined", participant=guest.info()), skip=guest.id)
        self._tell_host(room)

    async def deny(self, room: LiveRoom, guest_id: str) -> None:
        async with room.lock:
            entry = room.waiting.pop(guest_id, None)
            if entry is None:
                raise NotFound("that person is no longer waiting", code="not_waiting")
            guest, participant_id, _since = entry
            await asyncio.to_thread(move_participant, self.database, participant_id, P.denied,
                                    actor=f"staff:{room.host_id}", action="deny")
        guest.send(protocol.dump("denied"))
        self._tell_host(room)

    async def set_locked(self, room: LiveRoom, locked: bool) -> None:
        target = RoomState.locked if locked else RoomState.open
        async with room.lock:
            await asyncio.to_thread(move_room, self.database, room.db_id, target, actor=f"staff:{room.host_id}",
                                    action="lock" if locked else "unlock")
            room.state = target
            room.broadcast(room.summary())

    async def end(self, room: LiveRoom) -> None:
        async with room.lock:
            await asyncio.to_thread(move_room, self.database, room.db_id, RoomState.ended,
                                    actor=f"staff:{room.host_id}", action="end")
            room.state = RoomState.ended
            message = protocol.dump("ended", reason="host_ended")
            for peer in [*room.in_call.values(), *(entry[0] for entry in room.waiting.values())]:
                peer.send(message)
            room.in_call.clear()
            room.waiting.clear()
        self._tell_host(room)
        self.rooms.pop(room.public_id, None)

    async def host_gone(self, room: LiveRoom, host: Peer) -> None:
        async with room.lock:
            if room.in_call.get(host.id) is host:
                del room.in_call[host.id]
                room.broadcast(protocol.dump("left", participant=host.id))

    def relay(self, room: LiveRoom, sender: Peer, message: protocol.Signal) -> None:
        """Pass an offer, answer or candidate between two people who are both in the call."""
        if room.in_call.get(sender.id) is not sender:
            raise Forbidden("only people in the call can signal", code="not_in_call")
        target = room.in_call.get(message.to)
        if target is None or message.to == sender.id:
            raise NotFound("that participant is not in the call", code="unknown_peer")
        body: dict[str, object] = {"from": sender.id}
        if message.description is not None:
            body["description"] = message.description
        if message.candidate is not None:
            body["candidate"] = message.candidate
        target.send(protocol.dump("signal", **body))
