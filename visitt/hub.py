"""The live room hub: who is connected right now, on this node, and what they may do.

Durable state and its transitions live in :mod:`visitt.rooms`; the hub calls them and tells the
connected people what changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import identity, protocol
from .dashboards import Dashboards
from .db import Database, GroupCommit, outage
from .errors import Conflict, Forbidden, IllegalTransition, NotFound, ProtocolError, describe
from .models import ParticipantState, Room, RoomState, utcnow
from .rooms import (
    P,
    Locked,
    knock_participant,
    lock_participants,
    move_participant,
    move_room,
    participant_row_id,
    record_event,
    set_paused,
)

log = logging.getLogger("visitt.hub")


class Peer(Protocol):
    """A connected participant, as the hub sees it (``connections.Connection`` implements this)."""

    id: str
    role: str  # "host" for the clinician who hosts the room; a guest's kind ("patient", "interpreter", ...)
    name: str
    audio: bool
    video: bool
    identified: str | None
    sharing: bool  # sending a window in place of their camera
    staff_id: int | None  # a clinician's or a co-host's staff account: named in the audit trail
    cohost: bool  # a colleague signed in with their staff account: host powers while in the call, but End

    def send(self, text: str) -> None: ...

    def info(self) -> protocol.PeerInfo: ...


@dataclass
class Waiter:
    peer: Peer
    participant_id: int
    since: dt.datetime


@dataclass
class Owed:
    """A leave the database could not take when it happened (:attr:`Hub.owed`)."""
    room: str  # its public id
    target: ParticipantState
    actor: str


@dataclass
class LiveRoom:
    db_id: int
    public_id: str
    host_id: int
    state: RoomState
    starts_at: dt.datetime | None
    in_call: dict[str, Peer] = field(default_factory=dict)
    waiting: dict[str, Waiter] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # connections holding this room; it is forgotten when none do
    pause: protocol.PauseInfo | None = None  # set while the consultation is paused
    # People in the call whose socket dropped: they keep their place until the timer runs out.
    away: dict[str, asyncio.TimerHandle] = field(default_factory=dict)

    @property
    def locked(self) -> bool:
        return self.state is RoomState.locked

    def broadcast(self, text: str, *, skip: str | None = None) -> None:
        for peer_id, peer in list(self.in_call.items()):
            if peer_id != skip:
                peer.send(text)

    def summary(self) -> str:
        return protocol.dump("room", id=self.public_id, locked=self.locked, state=self.state.value)

    def waiting_info(self, waiter: Waiter) -> protocol.WaitingInfo:
        # A room without an appointment is a portal visit (``portal.py``): the visitor is unscheduled.
        return protocol.WaitingInfo(room=self.public_id, id=waiter.peer.id, name=waiter.peer.name,
                                    kind=waiter.peer.role, since=waiter.since.isoformat(),
                                    starts_at=self.starts_at.isoformat() if self.starts_at else None,
                                    unscheduled=self.starts_at is None)


class Hub:
    """Every room that has someone connected on this node, and the hosts' dashboards.

    Rooms are held while a connection uses them (:meth:`hold` / :meth:`release`), so two
    connections to one room always share one :class:`LiveRoom`.
    """

    def __init__(self, database: Database, *, auto_lock: bool = True, max_participants: int = 5,
                 ice: Callable[[str], dict[str, object]] | None = None,
                 on_admit: Callable[[float], None] | None = None, grace: float = 60.0,
                 max_wait: dt.timedelta = dt.timedelta(minutes=15)) -> None:
        self.database = database
        self.writes = GroupCommit(database, lock_participants)  # every change the hub makes: moves, audit rows
        self.grace = grace  # seconds a dropped participant keeps their place in the call
        self.lapsing: set[asyncio.Task[None]] = set()  # grace periods running out now (:meth:`close`)
        self.closed = False
        self.max_wait = max_wait  # how long anyone waits before being sent home (001, 002: 15 minutes)
        self.gave_up: dict[int, list[protocol.GaveUpInfo]] = {}  # per clinician: who was sent home, newest last
        # Leaves the database could not take (an outage), by participant id: written by the sweep once
        # it is back, or before that participant's next knock or rejoin. Until then a lapsed place
        # cannot be taken again: the database would still say admitted.
        self.owed: dict[int, Owed] = {}
        self.running_late: dict[int, int] = {}  # per clinician: minutes late, as they last said
        self.auto_lock = auto_lock
        self.max_participants = max_participants
        # The RTCConfiguration (ICE servers, TURN credentials) for a peer id; handed out on admission only.
        self.ice = ice or (lambda _peer_id: {})
        # Told how many seconds each guest a clinician admits had waited since knocking (for /metrics).
        self.on_admit = on_admit or (lambda _seconds: None)
        self.rooms: dict[str, LiveRoom] = {}
        self.by_host: dict[int, dict[str, LiveRoom]] = {}  # the same rooms by clinician: their lobby, their delay
        self.dashboards = Dashboards(self.by_host, self.gave_up)

    async def _move(self, participant_id: int, target: ParticipantState, *, actor: str, action: str) -> None:
        await self.writes.run(move_participant, participant_id, target, actor=actor, action=action,
                              locks=participant_id)

    async def _leave(self, room: LiveRoom, participant_id: int, target: ParticipantState, actor: str) -> None:
        """Record a leave (under the room's lock). While the database is away it is owed, and the
        error raised all the same."""
        try:
            await self._move(participant_id, target, actor=actor, action="leave")
        except Exception as error:
            if outage(error) is not None:
                self.owed[participant_id] = Owed(room.public_id, target, actor)
            raise

    async def _settle(self, participant_id: int) -> bool:
        """Write this participant's owed leave, if any (under its room's lock; raising while the
        database is still away). True if there was one."""
        owed = self.owed.get(participant_id)
        if owed is None:
            return False
        try:
            await self._move(participant_id, owed.target, actor=owed.actor, action="leave")
        except IllegalTransition:
            pass  # moved on meanwhile (the consultation ended, which wrote their leave): nothing is owed
        del self.owed[participant_id]
        return True

    async def settle_owed(self) -> None:
        """Write the leaves owed since an outage; the first that fails ends the round."""
        for participant_id, owed in list(self.owed.items()):
            room = self.rooms.get(owed.room)  # None: nobody holds the room here, nothing else moves them
            async with room.lock if room is not None else contextlib.nullcontext():
                await self._settle(participant_id)

    async def hold(self, public_id: str) -> LiveRoom:
        live = self.rooms.get(public_id)
        if live is None:
            loaded = await asyncio.to_thread(self._load, public_id)
            live = self.rooms.setdefault(public_id, loaded)
            self.by_host.setdefault(live.host_id, {})[public_id] = live
        live.users += 1
        return live

    def release(self, room: LiveRoom) -> None:
        room.users -= 1
        self._forget_if_idle(room)

    def _forget_if_idle(self, room: LiveRoom) -> None:
        if room.users <= 0 and not room.in_call and not room.waiting:
            if self.rooms.get(room.public_id) is room:
                del self.rooms[room.public_id]
                hosted = self.by_host[room.host_id]
                del hosted[room.public_id]
                if not hosted:
                    del self.by_host[room.host_id]

    def _load(self, public_id: str) -> LiveRoom:
        with self.database.session() as session:
            room = session.scalar(select(Room).where(Room.public_id == public_id))
            if room is None:
                raise NotFound("no such room", code="unknown_room")
            starts_at = room.appointment.starts_at if room.appointment else None
            live = LiveRoom(room.id, room.public_id, room.host_id, room.state, starts_at)
            if room.paused_at is not None:  # paused before everyone left, or before a restart
                names = {f"s{room.host_id}": room.host.full_name,
                         **{guest.public_id: guest.display_name for guest in room.participants}}
                live.pause = protocol.PauseInfo(by=room.paused_by or "", name=names.get(room.paused_by or "", ""),
                                                reason=room.pause_reason)  # type: ignore[arg-type]
            return live

    async def host_room(self, staff_id: int, public_id: str) -> LiveRoom:
        """The room ``public_id``, held for its host; the caller releases it."""
        room = await self.hold(public_id)
        if room.host_id != staff_id:
            self.release(room)
            raise Forbidden("only this consultation's clinician can do that", code="not_host")
        if room.state is RoomState.ended:
            self.release(room)
            raise Conflict("the consultation has ended", code="room_ended")
        return room

    # guests -------------------------------------------------------------------------------------

    async def knock(self, room: LiveRoom, guest: Peer, participant_id: int, name: str,
                    check: Callable[[Locked], None] | None = None) -> None:
        """The guest asks to come in. Someone who was in this call comes straight back while the
        room is unlocked and the clinician is there; everyone else waits to be admitted.

        ``check`` may refuse the knock (the link's window, :func:`visitt.joining.check_window`); it
        runs in the knock's own transaction, on the participant row as it is now."""
        name = " ".join(name.split())
        if not name:
            raise ProtocolError("enter your full name", code="name_required")
        async with room.lock:
            if room.state is RoomState.ended:
                raise Conflict("the consultation has ended", code="room_ended")
            if guest.id in room.waiting or guest.id in room.in_call:
                raise Conflict("already knocked", code="already_knocked")
            await self._settle(participant_id)
            previous = await self.writes.run(knock_participant, participant_id, name, check, locks=participant_id)
            guest.name = name
            gave_up = self.gave_up.get(room.host_id, [])
            gave_up[:] = [entry for entry in gave_up if entry.id != guest.id]  # back in the queue
            waiter = Waiter(guest, participant_id, utcnow())
            room.waiting[guest.id] = waiter
            host_present = any(_powers(peer) for peer in room.in_call.values())
            if room.state is RoomState.open and previous in (P.left, P.admitted) and host_present:
                await self._admit_locked(room, waiter, actor="system")
                return
        guest.send(protocol.dump("waiting"))
        if self.running_late.get(room.host_id):
            guest.send(protocol.dump("late", minutes=self.running_late[room.host_id]))
        self.dashboards.tell(room, protocol.dump("knock", room=room.public_id, participant=room.waiting_info(waiter)))

    async def guest_gone(self, room: LiveRoom, guest: Peer, participant_id: int) -> None:
        """The guest's connection closed or they pressed Leave. The others are told even if the
        database cannot record it: they are gone all the same."""
        async with room.lock:
            waiter = room.waiting.get(guest.id)
            if waiter is not None and waiter.peer is guest:
                del room.waiting[guest.id]
                try:
                    await self._leave(room, participant_id, P.invited, f"participant:{guest.id}")
                finally:
                    self.dashboards.tell(room)
            elif room.in_call.get(guest.id) is guest:
                del room.in_call[guest.id]
                try:
                    await self._leave(room, participant_id, P.left, f"participant:{guest.id}")
                finally:
                    room.broadcast(protocol.dump("left", participant=guest.id))

    def late(self, staff_id: int, minutes: int) -> int:
        """Tell everyone waiting for this clinician that they are running about ``minutes`` late
        (and anyone who knocks later; 0: on time again); returns how many were told."""
        self.running_late[staff_id] = minutes
        told = 0
        for room in self.by_host.get(staff_id, {}).values():
            for waiter in room.waiting.values():
                waiter.peer.send(protocol.dump("late", minutes=minutes))
                told += 1
        return told

    async def expire_waiting(self, now: dt.datetime | None = None) -> int:
        """Send home everyone who has waited longer than ``max_wait``: they are told the clinician
        is delayed and that the same link puts them back in the queue; the clinician's dashboard
        lists them. Returns how many were sent home."""
        now = now or utcnow()
        expired = 0
        for room in list(self.rooms.values()):
            async with room.lock:
                late = [waiter for waiter in room.waiting.values() if now - waiter.since >= self.max_wait]
                for waiter in late:  # recorded first: with the database away they wait on; the next sweep retries
                    await self._move(waiter.participant_id, P.invited, actor="system", action="leave")
                    del room.waiting[waiter.peer.id]
                    waiter.peer.send(protocol.dump("wait_expired", minutes=round(self.max_wait.total_seconds() / 60)))
                    gave_up = self.gave_up.setdefault(room.host_id, [])
                    gave_up.append(protocol.GaveUpInfo(room=room.public_id, id=waiter.peer.id, name=waiter.peer.name,
                                                       at=now.isoformat()))
                    del gave_up[:-20]
                expired += len(late)
            if late:
                self.dashboards.tell(room)
        return expired

    async def sweep(self, interval: float = 15.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.settle_owed()
                await self.expire_waiting()
            except Exception as error:  # the next sweep tries again
                log.error("waiting-room sweep failed: %s", describe(error))

    # host actions -------------------------------------------------------------------------------

    async def enter(self, room: LiveRoom, host: Peer, *, resume: bool = False) -> None:
        async with room.lock:
            self._enter_locked(room, host, resume)

    def _enter_locked(self, room: LiveRoom, host: Peer, resume: bool = False) -> None:
        current = room.in_call.get(host.id)
        if current is host:
            return
        if current is not None and host.id in room.away:  # the clinician's dropped socket, back again
            self._take_place(room, current, host)
            return
        if current is not None:  # the same clinician from another tab takes over
            current.send(protocol.dump("error", code="replaced", message="opened in another window"))
            room.in_call.pop(host.id)
            room.broadcast(protocol.dump("left", participant=host.id))
        room.in_call[host.id] = host
        # Resumed: the page keeps its peer connections (a node that restarted forgot the clinician).
        self._send_admitted(room, host, resumed=resume and current is None)
        room.broadcast(protocol.dump("joined", participant=host.info()), skip=host.id)

    async def admit(self, room: LiveRoom, host: Peer, guest_id: str) -> None:
        async with room.lock:
            waiter = room.waiting.get(guest_id)
            if waiter is None:
                raise NotFound("that person is no longer waiting", code="not_waiting")
            if len(room.in_call) + 1 + (host.id not in room.in_call) > self.max_participants:
                raise Conflict(f"at most {self.max_participants} people can be in a call", code="room_full")
            if self.auto_lock and room.state is RoomState.open:
                await self.writes.run(move_room, room.db_id, RoomState.locked,
                                      actor=_actor(room, host), action="lock")
                room.state = RoomState.locked
                room.broadcast(room.summary())
            self._enter_locked(room, host)  # a co-host is in the call already: nothing changes
            await self._admit_locked(room, waiter, actor=_actor(room, host))
        self.on_admit((utcnow() - waiter.since).total_seconds())

    async def _admit_locked(self, room: LiveRoom, waiter: Waiter, *, actor: str) -> None:
        guest = waiter.peer
        await self._move(waiter.participant_id, P.admitted, actor=actor, action="admit")
        del room.waiting[guest.id]
        room.in_call[guest.id] = guest
        self._send_admitted(room, guest)
        room.broadcast(protocol.dump("joined", participant=guest.info()), skip=guest.id)
        self.dashboards.tell(room)

    async def remove(self, room: LiveRoom, host: Peer, guest_id: str) -> None:
        """Take a guest out of the call (audit ``remove``). Their link then leads only to the
        waiting room: a knock from them always waits, locked room or not."""
        async with room.lock:
            guest = room.in_call.get(guest_id)
            if guest is None or guest.role == "host" or guest_id == host.id:
                raise NotFound("that participant is not in the call", code="unknown_peer")
            if guest.cohost and host.role != "host":
                raise Forbidden("only the consultation's clinician can remove a co-host", code="not_host")
            actor = _actor(room, host)

            def take_out(session: Session) -> None:  # move_participant locks the row
                move_participant(session, participant_row_id(session, guest_id), P.removed, actor=actor,
                                 action="remove")

            await self.writes.run(take_out)
            del room.in_call[guest_id]
            handle = room.away.pop(guest_id, None)
            if handle is not None:
                handle.cancel()
            guest.send(protocol.dump("removed"))
            room.broadcast(protocol.dump("left", participant=guest_id))

    async def deny(self, room: LiveRoom, guest_id: str, *, actor: str | None = None) -> None:
        """``actor``: the audit trail's name for who denied; the room's clinician unless given."""
        async with room.lock:
            waiter = room.waiting.get(guest_id)
            if waiter is None:
                raise NotFound("that person is no longer waiting", code="not_waiting")
            await self._move(waiter.participant_id, P.denied, actor=actor or f"staff:{room.host_id}", action="deny")
            del room.waiting[guest_id]
        waiter.peer.send(protocol.dump("denied"))
        self.dashboards.tell(room)

    async def set_locked(self, room: LiveRoom, locked: bool, *, actor: str | None = None) -> None:
        target = RoomState.locked if locked else RoomState.open
        async with room.lock:
            await self.writes.run(move_room, room.db_id, target,
                                  actor=actor or f"staff:{room.host_id}", action="lock" if locked else "unlock")
            room.state = target
            room.broadcast(room.summary())

    async def end(self, room: LiveRoom) -> None:
        async with room.lock:
            await self.writes.run(move_room, room.db_id, RoomState.ended,
                                  actor=f"staff:{room.host_id}", action="end")
            self._close(room, "host_ended")

    def ended_elsewhere(self, public_id: str, reason: str) -> None:
        """The room was ended by a change to its appointment (cancelled, no-show): tell whoever is
        connected. Call on the event loop's thread."""
        room = self.rooms.get(public_id)
        if room is not None:
            self._close(room, reason)

    def _close(self, room: LiveRoom, reason: str) -> None:
        """The room has ended: everyone in it or waiting is told, and nobody is held any longer."""
        room.state = RoomState.ended
        message = protocol.dump("ended", reason=reason)
        for peer in [*room.in_call.values(), *(waiter.peer for waiter in room.waiting.values())]:
            peer.send(message)
        room.in_call.clear()
        room.waiting.clear()
        for handle in room.away.values():
            handle.cancel()
        room.away.clear()
        self.dashboards.tell(room)

    async def host_gone(self, room: LiveRoom, host: Peer) -> None:
        async with room.lock:
            if room.in_call.get(host.id) is host:
                del room.in_call[host.id]
                room.broadcast(protocol.dump("left", participant=host.id))

    # dropped sockets and coming back -----------------------------------------------------------

    async def dropped(self, room: LiveRoom, peer: Peer, participant_id: int | None) -> None:
        """A socket closed without Leave. Someone in the call keeps their place for ``grace``
        seconds, and the others are told they are reconnecting; a waiting guest simply stops
        waiting (their page knocks again when it is back)."""
        async with room.lock:
            if room.in_call.get(peer.id) is peer and room.state is not RoomState.ended:
                if not self.closed:  # stopping: the place stays theirs, for the node they reach next
                    room.away[peer.id] = asyncio.get_running_loop().call_later(
                        self.grace, self._lapse, room, peer, participant_id)
                room.broadcast(protocol.dump("away", participant=peer.id), skip=peer.id)
                return
        if participant_id is not None:
            await self.guest_gone(room, peer, participant_id)

    def _lapse(self, room: LiveRoom, peer: Peer, participant_id: int | None) -> None:
        task = asyncio.ensure_future(self._grace_over(room, peer, participant_id))
        self.lapsing.add(task)
        task.add_done_callback(self.lapsing.discard)

    async def close(self) -> None:
        """The node stops: no grace period runs out here any more. The database still says admitted,
        so whoever is away takes their place again after the restart, or on another node."""
        self.closed = True
        for room in self.rooms.values():
            for handle in room.away.values():
                handle.cancel()
            room.away.clear()
        for task in self.lapsing:
            task.cancel()
        await asyncio.gather(*self.lapsing, return_exceptions=True)

    async def _grace_over(self, room: LiveRoom, peer: Peer, participant_id: int | None) -> None:
        async with room.lock:
            room.away.pop(peer.id, None)
            if room.in_call.get(peer.id) is not peer:
                return  # came back in time
            del room.in_call[peer.id]
            if participant_id is not None:
                try:
                    await self._leave(room, participant_id, P.left, "system")
                except Exception as error:  # the database away: they have left all the same (owed)
                    log.error("could not record a lapsed place: %s", describe(error))
            room.broadcast(protocol.dump("left", participant=peer.id))
            self._forget_if_idle(room)

    async def rejoin(self, room: LiveRoom, guest: Peer, participant_id: int, *, was_admitted: bool) -> None:
        """A guest whose socket dropped takes their place in the call again, without knocking.

        ``was_admitted``: the database still says admitted, which is what a node that restarted
        (or died) leaves behind; then the place is given back even with no live record of it.
        """
        async with room.lock:
            if room.state is RoomState.ended:
                raise Conflict("the consultation has ended", code="room_ended")
            current = room.in_call.get(guest.id)
            if current is guest:
                return
            if current is not None:
                self._take_place(room, current, guest)
                return
            if not was_admitted or await self._settle(participant_id):  # lapsed while the database was away
                raise Conflict("your place in the call has lapsed; knock again", code="not_resumable")
            await self.writes.run(record_event, "system", "admit", room_id=room.db_id,
                                  subject=f"participant:{guest.id}")
            room.in_call[guest.id] = guest
            self._send_admitted(room, guest, resumed=True)
            room.broadcast(protocol.dump("back", participant=guest.info()), skip=guest.id)

    def _take_place(self, room: LiveRoom, old: Peer, new: Peer) -> None:
        """``new`` is the same person as ``old`` on a new socket: swap them, quietly for the others."""
        handle = room.away.pop(new.id, None)
        if handle is not None:
            handle.cancel()
        else:  # the old socket is still open: the same link or sign-in in another window
            old.send(protocol.dump("error", code="replaced", message="opened in another window"))
        new.name, new.audio, new.video, new.sharing = old.name, old.audio, old.video, old.sharing
        if hasattr(old, "identified"):
            new.identified = old.identified
        room.in_call[new.id] = new
        self._send_admitted(room, new, resumed=True)
        room.broadcast(protocol.dump("back", participant=new.info()), skip=new.id)

    def _send_admitted(self, room: LiveRoom, peer: Peer, *, resumed: bool = False) -> None:
        others = [other.info() for other_id, other in room.in_call.items() if other_id != peer.id]
        peer.send(protocol.dump("admitted", room=room.public_id, locked=room.locked, participants=others,
                                ice=self.ice(peer.id), paused=room.pause, resumed=resumed))
        if resumed and peer.cohost:  # back on a new socket: the waiting room as it is now
            peer.send(self.dashboards.room_lobby(room))

    # in the call: privacy pause and identity checks ----------------------------------------------

    async def pause(self, room: LiveRoom, peer: Peer, reason: str | None) -> None:
        """Anyone in the call stops everyone's sound and picture: someone came into their room."""
        async with room.lock:
            _check_in_call(room, peer, "pause it")
            pause = protocol.PauseInfo(by=peer.id, name=peer.name, reason=reason)  # type: ignore[arg-type]
            await self.writes.run(set_paused, room.db_id, pause, actor=_actor(room, peer))
            room.pause = pause
            room.broadcast(protocol.dump("paused", **pause.model_dump()))

    async def resume(self, room: LiveRoom, host: Peer) -> None:
        """The clinician lets sound and picture flow again; each participant's own choices return."""
        async with room.lock:
            _check_in_call(room, host, "resume it")
            await self.writes.run(set_paused, room.db_id, None, actor=_actor(room, host))
            room.pause = None
            room.broadcast(protocol.dump("resumed", by=host.id))

    async def identify(self, room: LiveRoom, host: Peer, participant: str, method: str, note: str) -> None:
        """The clinician records how ``participant``'s identity was established; everyone sees the badge."""
        async with room.lock:
            _check_in_call(room, host, "check identities")
            target = room.in_call.get(participant)
            if target is None or participant == host.id or target.role == "host":
                raise NotFound("that participant is not in the call", code="unknown_peer")
            chosen = await self.writes.run(identity.record_check, room.db_id, participant, method,
                                           note, staff_id=host.staff_id or room.host_id)
            target.identified = chosen.value
            room.broadcast(protocol.dump("updated", participant=target.info()))

    async def request_id(self, room: LiveRoom, guest: Peer) -> None:
        """A guest asks the clinician to show their ID: the clinician in the call is told."""
        _check_in_call(room, guest, "ask for ID")
        hosts = [peer for peer in room.in_call.values() if _powers(peer)]
        if not hosts:
            raise Conflict("the clinician is not in the call", code="host_absent")
        await self.writes.run(record_event, f"participant:{guest.id}", "id_requested", room_id=room.db_id)
        for host in hosts:
            host.send(protocol.dump("id_requested", participant=guest.id))

    def share(self, room: LiveRoom, peer: Peer, on: bool) -> None:
        """``peer`` sends a window in place of their camera, or the camera again: everyone sees the mark.
        Several people may share at once; each shows their own window on their own tile."""
        _check_in_call(room, peer, "share a window")
        peer.sharing = on
        room.broadcast(protocol.dump("updated", participant=peer.info()))

    async def ask_unmute(self, room: LiveRoom, host: Peer, to: str) -> None:
        """The clinician asks someone to turn their microphone on: only the asked page hears of it, and only
        its user can turn the microphone on (the request is audited, the answer is the usual ``media``)."""
        _check_in_call(room, host, "ask someone to unmute")
        target = room.in_call.get(to)
        if target is None or to == host.id:
            raise NotFound("that participant is not in the call", code="unknown_peer")
        await self.writes.run(record_event, _actor(room, host), "ask_unmute", room_id=room.db_id,
                              subject=f"participant:{to}" if target.role != "host" else f"staff:{room.host_id}")
        target.send(protocol.dump("unmute_requested", **{"from": host.id}))

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


def _check_in_call(room: LiveRoom, peer: Peer, doing: str) -> None:
    if room.in_call.get(peer.id) is not peer:
        raise Forbidden(f"only people in the call can {doing}", code="not_in_call")


def _powers(peer: Peer) -> bool:
    """Whether ``peer`` may admit, deny, remove, lock, resume and check identities: the room's clinician or a co-host."""
    return peer.role == "host" or peer.cohost


def _actor(room: LiveRoom, peer: Peer) -> str:
    """The audit trail's name for someone in the call: a staff account if they have one."""
    if peer.staff_id is not None:
        return f"staff:{peer.staff_id}"
    return f"staff:{room.host_id}" if peer.role == "host" else f"participant:{peer.id}"
