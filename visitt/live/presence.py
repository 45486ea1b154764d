"""Presence: leaving, sockets that drop, and coming back.

Someone in the call whose socket closes without Leave keeps their place for a grace period while
the others see them "away"; their page takes the place back on a new socket (``rejoin``, with the
place key only their browser holds). A leave the database could not take during an outage is
*owed*, written once it is back, and until then the lapsed place cannot be taken again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from visitt.live import protocol
from visitt.store.db import outage
from visitt.errors import Conflict, IllegalTransition, describe
from visitt.live.live_room import LiveRoom, Peer, Waiter, place_key_matches
from visitt.store.models import ParticipantState, RoomState, utcnow
from visitt.live.permissions import Action
from visitt.rooms import P, move_participant, record_event

if TYPE_CHECKING:
    from visitt.live.hub import Hub

log = logging.getLogger("visitt.presence")
# to a socket whose place a newer one of the same browser (or sign-in) took
REPLACED = protocol.encode(protocol.ErrorMessage(code="replaced", message="opened in another window"))


@dataclass
class Owed:
    """A leave the database could not take when it happened (:attr:`Presence.owed`)."""
    room: str  # its public id
    target: ParticipantState
    actor: str


class Presence:
    """Who is away and for how long, and the leaves owed since an outage."""

    def __init__(self, hub: Hub, *, grace: float) -> None:
        self.hub = hub
        self.grace = grace  # seconds a dropped participant keeps their place in the call
        # Leaves the database could not take (an outage), by participant id: written by the sweep once
        # it is back, or before that participant's next knock or rejoin. Until then a lapsed place
        # cannot be taken again: the database would still say admitted.
        self.owed: dict[int, Owed] = {}
        self.lapsing: set[asyncio.Task[None]] = set()  # grace periods running out right now
        self.stopped = False

    # leaving -------------------------------------------------------------------------------------

    async def _leave(self, room: LiveRoom, participant_id: int, target: ParticipantState, actor: str) -> None:
        """Record a leave (under the room's lock). While the database is away it is owed, and the
        error raised all the same."""
        try:
            await self.hub.writes.run(move_participant, participant_id, target, actor=actor, action="leave",
                                      locks=participant_id)
        except Exception as error:
            if outage(error) is not None:
                self.owed[participant_id] = Owed(room.public_id, target, actor)
            raise

    async def leave(self, room: LiveRoom, guest: Peer) -> None:
        """The guest's connection closed or they pressed Leave. The others are told even if the
        database cannot record it: they are gone all the same."""
        self.hub.check(room, guest, Action.LEAVE)
        await self._gone(room, guest)

    async def _gone(self, room: LiveRoom, guest: Peer) -> None:
        participant_id = cast(int, guest.participant_id)
        async with room.lock:
            waiter = self.hub.lobby.stop_waiting(room, guest)
            if waiter is not None:
                try:
                    if waiter.second_of is None:  # a second device's knock moved nothing
                        await self._leave(room, participant_id, P.invited, f"participant:{guest.id}")
                finally:
                    self.hub.dashboards.tell(room)
            elif room.in_call.get(guest.id) is guest:
                del room.in_call[guest.id]
                try:
                    await self._leave(room, participant_id, P.left, f"participant:{guest.id}")
                finally:
                    room.broadcast(protocol.encode(protocol.Left(participant=guest.id)))
                    self.hub.out_of_call(room, guest.id)

    async def host_leaves(self, room: LiveRoom, host: Peer) -> None:
        """The clinician leaves the call (Leave, or into another consultation); the room goes on."""
        async with room.lock:
            if room.in_call.get(host.id) is host:
                del room.in_call[host.id]
                room.broadcast(protocol.encode(protocol.Left(participant=host.id)))
                self.hub.out_of_call(room, host.id)

    # dropped sockets -----------------------------------------------------------------------------

    async def dropped(self, room: LiveRoom, peer: Peer) -> None:
        """A socket closed without Leave. Someone in the call keeps their place for ``grace``
        seconds, and the others are told they are reconnecting; a waiting guest simply stops
        waiting (their page knocks again when it is back)."""
        async with room.lock:
            if room.in_call.get(peer.id) is peer and room.state is not RoomState.ended:
                if not self.stopped:  # stopping: the place stays theirs, for the node they reach next
                    room.away[peer.id] = asyncio.get_running_loop().call_later(self.grace, self._lapse, room, peer)
                if peer.participant_id is not None:  # a guest's connection dropped: the outcome's evidence
                    room.dropped_at = asyncio.get_running_loop().time()
                room.broadcast(protocol.encode(protocol.Away(participant=peer.id)), skip=peer.id)
                return
        if peer.participant_id is not None:
            await self._gone(room, peer)

    def _lapse(self, room: LiveRoom, peer: Peer) -> None:
        task = asyncio.ensure_future(self._grace_over(room, peer))
        self.lapsing.add(task)
        task.add_done_callback(self.lapsing.discard)

    async def _grace_over(self, room: LiveRoom, peer: Peer) -> None:
        async with room.lock:
            room.away.pop(peer.id, None)
            if room.in_call.get(peer.id) is not peer:
                return  # came back in time
            del room.in_call[peer.id]
            if peer.participant_id is not None:
                room.gave_up_reconnecting = True
                try:
                    await self._leave(room, peer.participant_id, P.left, "system")
                except Exception as error:  # the database away: they have left all the same (owed)
                    log.error("could not record a lapsed place: %s", describe(error))
            room.broadcast(protocol.encode(protocol.Left(participant=peer.id)))
            self.hub.out_of_call(room, peer.id)
            self.hub.forget_if_idle(room)

    def back_in_time(self, room: LiveRoom, peer_id: str) -> bool:
        """(Under the room's lock.) ``peer_id``'s place no longer lapses; whether it was going to."""
        handle = room.away.pop(peer_id, None)
        if handle is not None:
            handle.cancel()
        return handle is not None

    def forget_away(self, room: LiveRoom) -> None:
        """The room has ended: nobody's place lapses any more."""
        for handle in room.away.values():
            handle.cancel()
        room.away.clear()

    async def stop(self) -> None:
        """At shutdown: no grace timer fires, and no grace task is left to outlive the event loop (the
        places stay admitted in the database; the pages take them back from the next node)."""
        self.stopped = True
        for room in list(self.hub.rooms.values()):
            self.forget_away(room)
        tasks = list(self.lapsing)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # coming back ---------------------------------------------------------------------------------

    async def rejoin(self, room: LiveRoom, guest: Peer, *, stored_state: ParticipantState,
                     key: str | None = None, stored_key: str | None = None) -> None:
        """A guest's page on a new socket takes its place in the call or the waiting room again,
        without knocking: its socket dropped, or the page was reloaded or opened in another tab of the
        same browser (the older socket, if still open, is told it was replaced).

        Only the page holding the place's key (``key``; checked against the key this node issued, else
        ``stored_key``, the hash the database has) takes a place: another device with the same link or
        code gets ``not_resumable`` and knocks, as a second device the host must admit. A co-host is
        who their staff account says and needs no key.

        ``stored_state``: what the database said of the place when this socket opened. ``admitted`` or
        ``waiting`` with no live record is what a node that restarted (or died) leaves behind; then the
        place is given back to the page with its key.
        """
        self.hub.check(room, guest, Action.REJOIN)
        participant_id = cast(int, guest.participant_id)
        place = cast(str, guest.place)
        async with room.lock:
            if room.in_call.get(guest.id) is guest:
                return
            if not guest.cohost and not place_key_matches(key, room.keys.get(place, stored_key)):
                raise Conflict("this page holds no place here; knock to be let in", code="not_resumable")
            mine = room.waiting.get(guest.id)
            if guest.id != place and mine is not None and mine.peer is guest:
                raise Conflict("this page is waiting as another device", code="not_resumable")
            guest.id = place  # the key's holder, whatever id this socket had
            current = room.in_call.get(place)
            if current is not None:
                self.take_place(room, current, guest)
                return
            waiter = room.waiting.get(place)
            if waiter is not None:  # still waiting: the same place in the queue
                old, waiter.peer = waiter.peer, guest
                guest.name = old.name
                old.send(REPLACED)
                guest.send(protocol.encode(protocol.Waiting()))
                if waiter.notice is not None:  # the clinician's running-late notice, still true
                    guest.send(waiter.notice)
                self.hub.dashboards.tell(room)
                return
            if stored_state is P.waiting and not guest.cohost and not await self.settle(participant_id):
                # a node restarted while she waited: in the queue again
                waiter = Waiter(guest, participant_id, utcnow())
                room.waiting[place] = waiter
                guest.send(protocol.encode(protocol.Waiting()))
                knock = protocol.KnockNotice(room=room.public_id, participant=room.waiting_info(waiter))
                self.hub.dashboards.tell(room, protocol.encode(knock))
                return
            if stored_state is not P.admitted or await self.settle(participant_id):  # lapsed, the database away
                raise Conflict("your place in the call has lapsed; knock again", code="not_resumable")
            await self.hub.writes.run(record_event, "system", "admit", room_id=room.db_id,
                                      subject=f"participant:{guest.id}")
            room.in_call[guest.id] = guest
            self.hub.send_admitted(room, guest, resumed=True)
            room.broadcast(protocol.encode(protocol.Back(participant=guest.info())), skip=guest.id)

    def take_place(self, room: LiveRoom, old: Peer, new: Peer) -> None:
        """(Under the room's lock.) ``new`` is the same person as ``old`` on a new socket (the same
        browser, or the same staff sign-in): swap them. Back after a drop is quiet for the others; a
        socket that was still open is told it was replaced, and the hosts are told the place moved to
        another window."""
        was_away = self.back_in_time(room, new.id)
        if not was_away:
            old.send(REPLACED)
        new.name, new.audio, new.video, new.sharing = old.name, old.audio, old.video, old.sharing
        new.identified = old.identified
        room.in_call[new.id] = new
        self.hub.send_admitted(room, new, resumed=True)
        room.broadcast(protocol.encode(protocol.Back(participant=new.info())), skip=new.id)
        if not was_away and new.role != "host":
            taken = protocol.PlaceTaken(participant=new.id, name=new.name, second_device=False)
            room.tell_hosts(protocol.encode(taken))

    # owed leaves ---------------------------------------------------------------------------------

    async def settle(self, participant_id: int) -> bool:
        """Write this participant's owed leave, if any (under its room's lock; raising while the
        database is still away). True if there was one."""
        owed = self.owed.get(participant_id)
        if owed is None:
            return False
        try:
            await self.hub.writes.run(move_participant, participant_id, owed.target, actor=owed.actor,
                                      action="leave", locks=participant_id)
        except IllegalTransition:
            pass  # moved on meanwhile (the consultation ended, which wrote their leave): nothing is owed
        del self.owed[participant_id]
        return True

    async def settle_owed(self) -> None:
        """Write the leaves owed since an outage; the first that fails ends the round."""
        for participant_id, owed in list(self.owed.items()):
            room = self.hub.rooms.get(owed.room)  # None: nobody holds the room here, nothing else moves them
            async with room.lock if room is not None else contextlib.nullcontext():
                await self.settle(participant_id)
