"""The hub: every live room on this node, held while someone uses it, and what the room as a whole does.

The people in a room are handled by concept, each module owning its own state and checking, at the
start of each operation, that the actor may do it (:mod:`visitt.live.permissions`):

- :mod:`visitt.live.lobby`: knocking, admitting, denying, the wait limit, running late;
- :mod:`visitt.live.call`: entering the call, signals, media, sharing, the privacy pause, ID checks, unmute;
- :mod:`visitt.live.presence`: leaving, dropped sockets and their grace, coming back, owed leaves.

The hub itself holds the rooms (:meth:`Hub.hold`, :meth:`Hub.release`), locks and unlocks them, and
ends them: every ending - the host's End, a cancellation, a no-show - goes through :meth:`Hub.close`.
Durable state and its transitions live in :mod:`visitt.rooms`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import cast

from sqlalchemy import select

from visitt import consent, phone_fallback
from visitt.live import protocol
from visitt.live.call import Call
from visitt.live.dashboards import Dashboards
from visitt.store.db import Database, GroupCommit
from visitt.errors import NotFound, describe
from visitt.live.live_room import LiveRoom, Peer, actor_name, has_host_powers
from visitt.live.lobby import Lobby
from visitt.store.models import Room, RoomState
from visitt.live.permissions import Action, Role, check
from visitt.live.presence import Presence
from visitt.live.sfu import Sfu
from visitt.meetings import uses_media_server
from visitt.rooms import lock_participants, move_room

log = logging.getLogger("visitt.hub")
DROP_WINDOW = 60.0  # seconds: a call ended this soon after a guest's connection dropped is suggested "dropped"

__all__ = ["Hub", "LiveRoom", "Peer"]


class Hub:
    """Every room that has someone connected on this node, and the hosts' dashboards.

    Rooms are held while a connection uses them (:meth:`hold` / :meth:`release`), so two
    connections to one room always share one :class:`LiveRoom`.
    """

    def __init__(self, database: Database, *, auto_lock: bool = True, max_participants: int = 5,
                 ice: Callable[[str], dict[str, object]] | None = None,
                 on_admit: Callable[[float], None] | None = None, grace: float = 60.0,
                 max_wait: dt.timedelta = dt.timedelta(minutes=15), guests_may_share: bool = False,
                 max_group_participants: int = 12, max_video_streams: int = 4) -> None:
        self.database = database
        self.max_video_streams = max_video_streams  # the pictures a page of a call through Janus shows at most
        self.writes = GroupCommit(database, lock_participants)  # every change the live rooms make: moves, audit rows
        self.guests_may_share = guests_may_share
        # The RTCConfiguration (ICE servers, TURN credentials) for a peer id; handed out on admission only.
        self.ice = ice or (lambda _peer_id: {})
        self.rooms: dict[str, LiveRoom] = {}
        self.by_host: dict[int, dict[str, LiveRoom]] = {}  # the same rooms by clinician: their lobby, their delay
        self.presence = Presence(self, grace=grace)
        self.lobby = Lobby(self, auto_lock=auto_lock, max_participants=max_participants, max_wait=max_wait,
                           on_admit=on_admit, max_group_participants=max_group_participants)
        self.call = Call(self)
        self.dashboards = Dashboards(self.by_host, self.lobby.gave_up)
        # Group calls through Janus; without VISITT_JANUS_URL (use_janus) they get media_server_unavailable.
        self.sfu = Sfu(self, "", "")

    def use_janus(self, url: str, api_secret: str, *, record_dir: str | None = None) -> Sfu:
        """Group calls go through the Janus at ``url`` (opened at first use)."""
        self.sfu = Sfu(self, url, api_secret, record_dir=record_dir)
        return self.sfu

    def out_of_call(self, room: LiveRoom, peer_id: str) -> None:
        """``peer_id`` is no longer in the call: the media server lets them go too."""
        self.sfu.left(room, peer_id)

    def check(self, room: LiveRoom | None, actor: Peer, action: Action) -> Role:
        """:func:`visitt.live.permissions.check`, with this node's settings; the actor's role."""
        return check(room, actor, action, guests_may_share=self.guests_may_share)

    # the rooms held on this node ----------------------------------------------------------------

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
        self.forget_if_idle(room)

    def forget_if_idle(self, room: LiveRoom) -> None:
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
            meeting = room.meeting
            starts_at = room.appointment.starts_at if room.appointment else meeting.starts_at if meeting else None
            # a group consultation, or a staff meeting larger than the mesh (visitt.meetings.uses_media_server)
            group = (room.appointment is not None and room.appointment.kind == "group") or (
                meeting is not None and uses_media_server(len(room.participants), self.lobby.max_participants))
            live = LiveRoom(room.id, room.public_id, room.host_id, room.state, starts_at, group=group,
                            meeting=meeting is not None)
            live.media_flowed = room.appointment.media_flowed if room.appointment else False
            if room.paused_at is not None:  # paused before everyone left, or before a restart
                names = {f"s{room.host_id}": room.host.full_name,
                         **{guest.public_id: guest.display_name for guest in room.participants}}
                live.pause = protocol.PauseInfo(by=room.paused_by or "", name=names.get(room.paused_by or "", ""),
                                                reason=room.pause_reason)  # type: ignore[arg-type]
            return live

    def send_admitted(self, room: LiveRoom, peer: Peer, *, resumed: bool = False, key: str | None = None) -> None:
        """Tell ``peer`` they are in the call: who else is, the TURN credentials, the pause. ``key``: a
        new place key for a guest's page (a returning guest let straight in, a second device)."""
        others = [other.info() for other_id, other in room.in_call.items() if other_id != peer.id]
        sfu = room.group or room.sfu
        admitted = protocol.Admitted(room=room.public_id, locked=room.locked, participants=others,
                                     ice=self.ice(peer.id), paused=room.pause, resumed=resumed, key=key,
                                     media="sfu" if sfu else "mesh",
                                     max_video=self.max_video_streams if sfu else None,
                                     feeds=self.sfu.feeds(room, peer.id) if sfu else None)
        peer.send(protocol.encode(admitted))
        if resumed:
            self.sfu.resumed(room, peer)
        elif sfu:
            self.sfu.admitted(room, peer)
        if resumed and peer.cohost:  # back on a new socket: the waiting room as it is now
            peer.send(self.dashboards.room_lobby(room))

    # the room as a whole: lock, end ------------------------------------------------------------

    async def set_locked(self, room: LiveRoom, actor: Peer, locked: bool) -> None:
        self.check(room, actor, Action.LOCK if locked else Action.UNLOCK)
        target = RoomState.locked if locked else RoomState.open
        async with room.lock:
            await self.writes.run(move_room, room.db_id, target,
                                  actor=actor_name(room, actor), action="lock" if locked else "unlock")
            room.state = target
            room.broadcast(room.summary())

    async def end(self, room: LiveRoom, actor: Peer) -> None:
        """The clinician ends the consultation for everyone. The call's suggested outcome takes in
        whether a guest's connection dropped and did not come back (:func:`visitt.outcomes.suggestion`)."""
        self.check(room, actor, Action.END)
        async with room.lock:
            await self.writes.run(move_room, room.db_id, RoomState.ended, actor=actor_name(room, actor), action="end",
                                  dropped=self.dropped(room))
            self.close(room, "host_ended")

    async def continue_by_phone(self, room: LiveRoom, actor: Peer) -> None:
        """The clinician ends the video for everyone and will phone the patient: the patient's page says so,
        with their number partly masked; the clinician's page gets the number as a ``tel:`` link."""
        self.check(room, actor, Action.CONTINUE_BY_PHONE)
        async with room.lock:
            call = await self.writes.run(phone_fallback.continue_by_phone, room.db_id, actor=actor_name(room, actor))
            if call is not None:
                told = protocol.encode(protocol.PhoneCall(phone=call.masked))
                for peer in [*room.in_call.values(), *(waiter.peer for waiter in room.waiting.values())]:
                    if peer.role == "patient":
                        peer.send(told)
                actor.send(protocol.encode(protocol.PhoneCall(phone=call.masked, tel=call.tel)))
            self.close(room, "by_phone")
    @staticmethod
    def dropped(room: LiveRoom) -> bool:
        """Whether the call ends as a dropped one: a guest's reconnection gave up, or a guest's connection
        dropped less than :data:`DROP_WINDOW` seconds ago (whether or not it came back)."""
        if room.gave_up_reconnecting:
            return True
        return room.dropped_at is not None and asyncio.get_running_loop().time() - room.dropped_at < DROP_WINDOW

    async def withdraw(self, room: LiveRoom, guest: Peer, language: str) -> None:
        """The patient withdraws from video, before or during the call: recorded (:func:`visitt.consent.withdraw`),
        the hosts told at once (``withdrawn``), and the room ended for everyone (``ended``, ``withdrawn``).
        In a group consultation only their own part ends (:meth:`part_withdrawn`); the others go on."""
        self.check(room, guest, Action.WITHDRAW)
        async with room.lock:
            whole = await self.writes.run(consent.withdraw_in_room, room.db_id, guest.participant_id,
                                          language=language)
            if not whole:
                if guest not in self.part_withdrawn(room, cast(int, guest.participant_id)):
                    self._tell_hosts_withdrawn(room, guest.id, guest.name)  # on the page, before knocking
                    guest.send(protocol.encode(protocol.Ended(reason="withdrawn")))
                return
            self._tell_hosts_withdrawn(room, guest.id, guest.name)
            told = room.in_call.get(guest.id) is guest or guest.id in room.waiting
            self.close(room, "withdrawn")
            if not told:  # still on the page before knocking: the close above did not reach them
                guest.send(protocol.encode(protocol.Ended(reason="withdrawn")))

    def _tell_hosts_withdrawn(self, room: LiveRoom, peer_id: str, name: str) -> None:
        notice = protocol.encode(protocol.Withdrawn(room=room.public_id, participant=peer_id, name=name))
        hosts = [peer for peer in room.in_call.values() if has_host_powers(peer)]
        for peer in {id(peer): peer for peer in [*hosts, *self.dashboards.watching.get(room.host_id, ())]}.values():
            peer.send(notice)  # once each: the clinician's socket is their dashboard and their call

    def part_withdrawn(self, room: LiveRoom, participant_id: int) -> list[Peer]:
        """(Under the room's lock.) One patient of a group consultation withdrew from video, already recorded
        (:func:`visitt.consent.withdraw_from_group`): each of their pages is told (``ended``, ``withdrawn``) and
        leaves the call and Janus, the hosts are told (``withdrawn``), the others see them leave and go on.
        Returns the pages told."""
        peers = [peer for peer in [*room.in_call.values(), *(waiter.peer for waiter in room.waiting.values())]
                 if peer.participant_id == participant_id]
        ended = protocol.encode(protocol.Ended(reason="withdrawn"))
        for peer in peers:
            if room.in_call.get(peer.id) is peer:
                del room.in_call[peer.id]
                self.presence.back_in_time(room, peer.id)
                room.broadcast(protocol.encode(protocol.Left(participant=peer.id)))
                self.out_of_call(room, peer.id)
            else:
                self.lobby.stop_waiting(room, peer)
            peer.send(ended)
        main = next((peer for peer in peers if peer.id == peer.place), peers[0] if peers else None)
        if main is not None:
            self._tell_hosts_withdrawn(room, main.id, main.name)
        self.dashboards.tell(room)
        return peers

    async def withdrawn_elsewhere(self, public_id: str, participant_id: int) -> None:
        """A patient of a group consultation withdrew, recorded by staff (``Cluster.patient_withdrew``):
        their part of the call held here ends (:meth:`part_withdrawn`)."""
        room = self.rooms.get(public_id)
        if room is not None:
            async with room.lock:
                self.part_withdrawn(room, participant_id)

    def ended_elsewhere(self, public_id: str, reason: protocol.EndReason) -> None:
        """The room was ended by a change to its appointment (cancelled, no-show), already written:
        tell whoever is connected. Call on the event loop's thread."""
        room = self.rooms.get(public_id)
        if room is not None:
            self.close(room, reason)

    def close(self, room: LiveRoom, reason: protocol.EndReason) -> None:
        """The room has ended (``reason``: host_ended, by_phone, cancelled, no_show): everyone in it or waiting is
        told, nobody is held any longer, and nobody's grace period runs on. The durable side - the room
        ended, each participant's leave audited - is :func:`visitt.rooms.move_room`'s."""
        room.state = RoomState.ended
        message = protocol.encode(protocol.Ended(reason=reason))
        for peer in [*room.in_call.values(), *(waiter.peer for waiter in room.waiting.values())]:
            peer.send(message)
        room.in_call.clear()
        room.waiting.clear()
        self.sfu.ended(room)
        self.presence.forget_away(room)
        self.dashboards.tell(room)

    # the sweep and shutdown ----------------------------------------------------------------------

    async def sweep(self, interval: float = 15.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.presence.settle_owed()
                await self.lobby.expire_waiting()
            except Exception as error:  # the next sweep tries again
                log.error("waiting-room sweep failed: %s", describe(error))

    async def close_all(self) -> None:
        """At shutdown: no grace timer fires, and no grace task outlives the event loop."""
        await self.presence.stop()
        await self.sfu.close()
