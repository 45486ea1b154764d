"""The waiting room: knocking, admitting and denying, the wait limit, running late.

A guest knocks and waits; the clinician (or a co-host in the call) admits or denies them. Who has
waited longer than the limit is sent home, and the clinician's dashboard lists them. A clinician
running late tells everyone waiting for them at that moment, and each one's wait limit moves with the
notice: it is theirs (a later knock is not told another patient's news, nor kept longer). The page
whose knock holds an invitation's place gets its place key; a knock while another page holds the
place is a *second device*, which only an admission lets in (it then takes the place over).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from visitt.live import protocol
from visitt.errors import Conflict, NotFound, ProtocolError
from visitt.live.live_room import LiveRoom, Peer, Waiter, actor_name, new_place_key
from visitt.store.models import ParticipantState, RoomState, utcnow
from visitt.live.permissions import Action
from visitt.rooms import P, Locked, knock_participant, knock_second_device, move_participant, move_room, record_event, take_over

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from visitt.live.hub import Hub

# to the page that held a place a host has just handed to a second device
TAKEN_OVER = protocol.encode(protocol.ErrorMessage(code="replaced", message="taken over by another device"))
ON_TIME = protocol.encode(protocol.LateNotice(minutes=0))  # the clinician is on time again


class Lobby:
    """The waiting rooms on this node. Owns who was sent home (per clinician, for their dashboard)."""

    def __init__(self, hub: Hub, *, auto_lock: bool, max_participants: int, max_wait: dt.timedelta,
                 on_admit: Callable[[float], None] | None, max_group_participants: int = 12) -> None:
        self.hub = hub
        self.auto_lock = auto_lock
        self.max_participants = max_participants
        self.max_group_participants = max_group_participants  # besides the hosts (visitt.groups)
        self.max_wait = max_wait  # how long anyone waits before being sent home (001, 002: 15 minutes)
        # Told how many seconds each guest a clinician admits had waited since knocking (for /metrics).
        self.on_admit = on_admit or (lambda _seconds: None)
        self.gave_up: dict[int, list[protocol.GaveUpInfo]] = {}  # per clinician: who was sent home, newest last

    async def _move(self, participant_id: int, target: ParticipantState, *, actor: str, action: str) -> None:
        await self.hub.writes.run(move_participant, participant_id, target, actor=actor, action=action,
                                  locks=participant_id)

    async def knock(self, room: LiveRoom, guest: Peer, name: str,
                    check: Callable[[Locked], None] | None = None, *, held_elsewhere: bool = False,
                    language: str | None = None) -> None:
        """The guest asks to come in. Someone who was in this call comes straight back while the
        room is unlocked and the clinician is there; everyone else waits to be admitted.

        ``check`` may refuse the knock (the link's window, :func:`visitt.joining.check_window`); it
        runs in the knock's own transaction, on the participant row as it is now.

        The page whose knock holds the place gets its place key (``waiting``, or ``admitted``): only
        that browser takes the place back without an admission (:meth:`visitt.live.presence.Presence.rejoin`).
        A knock while another page holds the place is a second device: it waits, marked so on the
        dashboard, and the place stays where it is until the host admits it. ``held_elsewhere``: the
        database gives the place to a page this node has no live record of (it restarted); a knock on it
        is a second device too, until that page takes the place back with its key.

        The patient's knock is their consent to video, recorded with the ``language`` of the page
        whose consent text they saw (:func:`visitt.consent.record_given`)."""
        self.hub.check(room, guest, Action.KNOCK)
        participant_id = cast(int, guest.participant_id)
        name = " ".join(name.split())
        if not name:
            raise ProtocolError("enter your full name", code="name_required")
        async with room.lock:
            if room.state is RoomState.ended:
                raise Conflict("the consultation has ended", code="room_ended")
            mine = room.waiting.get(guest.id)
            if (mine is not None and mine.peer is guest) or room.in_call.get(guest.id) is guest:
                raise Conflict("already knocked", code="already_knocked")
            place = cast(str, guest.place)
            key: str | None = None
            key_hash = ""
            previous: ParticipantState | None = None
            waiter: Waiter | None = None
            held = place in room.waiting or place in room.in_call
            if guest.cohost and held:  # a staff account is who it says: its other window takes over by `rejoin`
                raise Conflict("already knocked", code="already_knocked")
            if held:
                await self.hub.writes.run(knock_second_device, participant_id, check, locks=participant_id)
                waiter = self._wait_beside(room, guest, participant_id, name)
            else:
                await self.hub.presence.settle(participant_id)
                key, key_hash = new_place_key()
                # the database read afresh: a place a page still holds after a node restart is not free
                previous = await self.hub.writes.run(knock_participant, participant_id, name, check, key_hash=key_hash,
                                                     held_elsewhere=held_elsewhere and not guest.cohost,
                                                     consent_language=language if guest.role == "patient" else None,
                                                     locks=participant_id)
                if previous is None:
                    waiter, key = self._wait_beside(room, guest, participant_id, name), None
            if waiter is None:
                guest.id = place  # the place is free: knocking for it, under its own id (a former second device too)
                room.keys[place] = key_hash
                guest.name = name
                gave_up = self.gave_up.get(room.host_id, [])
                gave_up[:] = [entry for entry in gave_up if entry.id != guest.id]  # back in the queue
                waiter = Waiter(guest, participant_id, utcnow())
                room.waiting[guest.id] = waiter
                if room.state is RoomState.open and previous in (P.left, P.admitted) and room.host_present():
                    await self._admit_locked(room, waiter, actor="system", key=key)
                    return
                if room.meeting and guest.cohost and self._fits(room, waiter):
                    # invited to a staff meeting by their account: in without knocking, even when locked
                    await self._admit_locked(room, waiter, actor=actor_name(room, guest), key=key)
                    return
        # a second device is told so; the page whose knock holds the place gets its key
        guest.send(protocol.encode(protocol.Waiting(key=key, second_device=key is None)))
        knock = protocol.KnockNotice(room=room.public_id, participant=room.waiting_info(waiter))
        self.hub.dashboards.tell(room, protocol.encode(knock))

    @staticmethod
    def _wait_beside(room: LiveRoom, guest: Peer, participant_id: int, name: str) -> Waiter:
        """(Under the room's lock, the knock written.) ``guest`` knocked on a place another page holds: it
        waits under an id of its own, with nothing it could carry over from the place (no identity check)."""
        place = cast(str, guest.place)
        guest.id = f"{place}~{secrets.token_hex(3)}"  # a new one at every knock: never the place's own
        guest.name, guest.identified = name, None
        waiter = Waiter(guest, participant_id, utcnow(), second_of=place)
        room.waiting[guest.id] = waiter
        return waiter

    async def admit(self, room: LiveRoom, host: Peer, guest_id: str) -> None:
        """The clinician (or a co-host in the call) lets a waiting guest in. An open room locks itself
        (``auto_lock``), and the clinician comes into the call if not there yet."""
        self.hub.check(room, host, Action.ADMIT)
        async with room.lock:
            waiter = room.waiting.get(guest_id)
            if waiter is None:
                raise NotFound("that person is no longer waiting", code="not_waiting")
            joining_host = host.id not in room.in_call
            if self._past_mesh(room, waiter, joining_host=joining_host) and await self.hub.sfu.can_carry(room):
                self.hub.sfu.move(room)  # past the mesh: the call moves to Janus (issue 20), else the refusal below
            self._check_room(room, waiter, joining_host=joining_host)
            locking = self.auto_lock and room.state is RoomState.open
            written = locking and waiter.second_of is None
            if written:  # the lock and the admission in one unit: one commit before the guest hears of it
                await self.hub.writes.run(_lock_and_admit, room.db_id, waiter.participant_id,
                                          actor=actor_name(room, host), locks=waiter.participant_id)
            elif locking:
                await self.hub.writes.run(move_room, room.db_id, RoomState.locked,
                                          actor=actor_name(room, host), action="lock")
            if locking:
                room.state = RoomState.locked
                room.broadcast(room.summary())
            self.hub.call.seat_host(room, host)  # a co-host is in the call already: nothing changes
            if waiter.second_of is not None:
                await self._hand_over(room, waiter, actor=actor_name(room, host))
            else:
                await self._admit_locked(room, waiter, actor=actor_name(room, host), written=written)
        self.on_admit((utcnow() - waiter.since).total_seconds())

    def _check_room(self, room: LiveRoom, waiter: Waiter, *, joining_host: bool) -> None:
        """(Under the room's lock.) Refuse with ``room_full`` if letting ``waiter`` in (and the host, if
        ``joining_host``) would make the call larger than it may be."""
        joining = 0 if waiter.second_of in room.in_call else 1  # a second device takes a place, adds none
        hosts = sum(1 for peer in room.in_call.values() if peer.role == "host" or peer.cohost)
        if room.group or room.sfu:  # the hosts besides: a call through Janus, not the mesh
            if len(room.in_call) - hosts + joining > self.max_group_participants:
                raise Conflict(f"at most {self.max_group_participants} people besides the hosts can be in "
                               "a call through the media server", code="room_full")
        elif self._past_mesh(room, waiter, joining_host=joining_host):
            raise Conflict(f"at most {self.max_participants} people can be in a call", code="room_full")

    def _past_mesh(self, room: LiveRoom, waiter: Waiter, *, joining_host: bool) -> bool:
        """Whether letting ``waiter`` in (and the host, if ``joining_host``) would take a call on the mesh
        past the mesh's size."""
        joining = 0 if waiter.second_of in room.in_call else 1
        return not (room.group or room.sfu) and len(room.in_call) + joining + joining_host > self.max_participants

    def _fits(self, room: LiveRoom, waiter: Waiter) -> bool:
        try:
            self._check_room(room, waiter, joining_host=False)
        except Conflict:
            return False  # a full call: they wait, and the host decides
        return True

    async def _admit_locked(self, room: LiveRoom, waiter: Waiter, *, actor: str, key: str | None = None,
                            written: bool = False) -> None:
        """(Under the room's lock.) ``written``: the move to admitted is in the database already."""
        guest = waiter.peer
        if not written:
            await self._move(waiter.participant_id, P.admitted, actor=actor, action="admit")
        del room.waiting[guest.id]
        if room.group and not guest.cohost and not room.meeting:  # patients in a group: first names only
            guest.name = guest.name.split()[0] if guest.name.split() else guest.name
        room.in_call[guest.id] = guest
        self.hub.send_admitted(room, guest, key=key)
        room.broadcast(protocol.encode(protocol.Joined(participant=guest.info())), skip=guest.id)
        self.hub.dashboards.tell(room)

    async def _hand_over(self, room: LiveRoom, waiter: Waiter, *, actor: str) -> None:
        """(Under the room's lock.) The host admits a second device: it takes the place the first page
        held, in the call or in the waiting room. The first page is told and can do nothing more in the
        room; only the new page's place key is valid from now on. Everyone in the call sees the first
        page leave and the new one join, and the hosts are told the place was taken over."""
        guest, place = waiter.peer, cast(str, waiter.second_of)
        key, key_hash = new_place_key()
        await self.hub.writes.run(take_over, waiter.participant_id, key_hash, actor=actor, locks=waiter.participant_id)
        del room.waiting[guest.id]
        room.keys[place] = key_hash
        self.hub.presence.back_in_time(room, place)
        first = room.in_call.pop(place, None)
        if first is not None:
            first.send(TAKEN_OVER)
            room.broadcast(protocol.encode(protocol.Left(participant=place)))
            self.hub.out_of_call(room, place)  # the first device's media, on the media server
        first_waiter = room.waiting.pop(place, None)
        if first_waiter is not None:
            first_waiter.peer.send(TAKEN_OVER)
        guest.id = place
        room.in_call[place] = guest
        self.hub.send_admitted(room, guest, key=key)
        room.broadcast(protocol.encode(protocol.Joined(participant=guest.info())), skip=place)
        room.tell_hosts(protocol.encode(protocol.PlaceTaken(participant=place, name=guest.name, second_device=True)))
        self.hub.dashboards.tell(room)

    def offer_ahead(self, room: LiveRoom, guest: Peer, sdp: str) -> None:
        """A waiting guest's page hands over the offer it has written for the call: the host's pages answer
        it while the guest waits, with their own ICE servers (TURN credentials for the staff member, as their
        ``admitted`` brings them), and send that answer and their candidates once the same offer comes after the
        admission (``call.js`` ``answerAhead``). Nothing goes to the guest. Once per waiting page; a second device
        waits for the clinician's decision first, and a call through the media server has no use for it."""
        self.hub.check(room, guest, Action.OFFER_AHEAD)
        waiter = room.waiting.get(guest.id)
        if waiter is None or waiter.peer is not guest or waiter.second_of is not None:
            raise Conflict("only a page waiting to be let in offers ahead", code="not_waiting")
        if waiter.offered:
            raise Conflict("this page has offered ahead already", code="already_offered")
        waiter.offered = True
        if room.group or room.sfu:
            return
        for host in self.hub.dashboards.hosts(room):  # each with their own ICE servers, as `admitted` gives them
            host.send(protocol.encode(protocol.OfferAheadIn(room=room.public_id, participant=guest.id, sdp=sdp,
                                                            ice=self.hub.ice(host.id))))

    async def deny(self, room: LiveRoom, host: Peer, guest_id: str) -> None:
        self.hub.check(room, host, Action.DENY)
        async with room.lock:
            waiter = room.waiting.get(guest_id)
            if waiter is None:
                raise NotFound("that person is no longer waiting", code="not_waiting")
            who = actor_name(room, host)
            if waiter.second_of is None:
                await self._move(waiter.participant_id, P.denied, actor=who, action="deny")
            else:  # the place stays with the page that holds it
                await self.hub.writes.run(record_event, who, "deny", room_id=room.db_id,
                                          subject=f"participant:{waiter.second_of}", device="second")
            del room.waiting[guest_id]
        waiter.peer.send(protocol.encode(protocol.Denied()))
        self.hub.dashboards.tell(room)

    def stop_waiting(self, room: LiveRoom, guest: Peer) -> Waiter | None:
        """(Under the room's lock.) ``guest`` no longer waits; their :class:`Waiter`, if they did."""
        waiter = room.waiting.get(guest.id)
        if waiter is None or waiter.peer is not guest:
            return None
        del room.waiting[guest.id]
        return waiter

    def deadline(self, waiter: Waiter) -> dt.datetime:
        """When ``waiter`` is sent home: the wait limit after their knock, or later if told so."""
        return waiter.until or waiter.since + self.max_wait

    def late(self, host: Peer, minutes: int) -> int:
        """Tell everyone waiting for this clinician now that they are running about ``minutes`` late (0:
        on time again); returns how many were told. Each one's wait limit starts again from the time the
        clinician now expects (never earlier than it was), so nobody told to stay is sent home before
        then; but nobody waits longer than ``LATE_MAX_MINUTES`` past their usual limit, whatever the
        notices said (then the expected time is that end, too). The notice is the waiter's: sent again
        when their page takes the place back, never to whoever knocks later."""
        self.hub.check(None, host, Action.LATE)
        staff_id = cast(int, host.staff_id)
        now = utcnow()
        expected = now + dt.timedelta(minutes=minutes)
        told = 0
        for room in self.hub.by_host.get(staff_id, {}).values():
            for waiter in room.waiting.values():
                if not minutes:  # on time again: for those told otherwise (their limit stays where it went)
                    if waiter.notice is None:
                        continue
                    waiter.notice = None
                    waiter.peer.send(ON_TIME)
                    told += 1
                    continue
                longest = waiter.since + self.max_wait + dt.timedelta(minutes=protocol.LATE_MAX_MINUTES)
                waiter.until = min(max(self.deadline(waiter), expected + self.max_wait), longest)
                waiter.notice = protocol.encode(protocol.LateNotice(
                    minutes=minutes, expected=min(expected, waiter.until).isoformat(), until=waiter.until.isoformat()))
                waiter.peer.send(waiter.notice)
                told += 1
        return told

    async def expire_waiting(self, now: dt.datetime | None = None) -> int:
        """Send home everyone who has waited longer than ``max_wait`` (or, told the clinician is running
        late, past their limit as it moved): they are told the clinician is delayed and that the same
        link puts them back in the queue; the clinician's dashboard lists them. Returns how many were
        sent home."""
        now = now or utcnow()
        expired = 0
        for room in list(self.hub.rooms.values()):
            async with room.lock:
                late = [waiter for waiter in room.waiting.values() if now >= self.deadline(waiter)]
                for waiter in late:  # recorded first: with the database away they wait on; the next sweep retries
                    if waiter.second_of is None:
                        await self._move(waiter.participant_id, P.invited, actor="system", action="leave")
                    del room.waiting[waiter.peer.id]
                    minutes = round((self.deadline(waiter) - waiter.since).total_seconds() / 60)
                    waiter.peer.send(protocol.encode(protocol.WaitExpired(minutes=minutes)))
                    gave_up = self.gave_up.setdefault(room.host_id, [])
                    gave_up.append(protocol.GaveUpInfo(room=room.public_id, id=waiter.peer.id, name=waiter.peer.name,
                                                       at=now.isoformat()))
                    del gave_up[:-20]
                expired += len(late)
            if late:
                self.hub.dashboards.tell(room)
        return expired


def _lock_and_admit(session: Session, room_id: int, participant_id: int, *, actor: str) -> None:
    """The room's auto-lock and the admission that causes it, as one unit of work: both or neither, and
    one commit fewer before the guest hears ``admitted`` (the join's critical path, docs/performance.md)."""
    move_room(session, room_id, RoomState.locked, actor=actor, action="lock")
    move_participant(session, participant_id, P.admitted, actor=actor, action="admit")
