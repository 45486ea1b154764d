"""The call: who is in it and what passes between them - the clinician entering, signals (offers,
answers, candidates), what each one shows (microphone, camera, a shared window), the privacy pause,
identity checks, asking someone to unmute, and taking someone out.

Sound and picture never pass through here: they go browser to browser. Only people in the call
reach each other, and only what :mod:`visitt.live.permissions` gives their role.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from visitt import outcomes
from visitt.live import chat, identity, protocol
from visitt.errors import Conflict, Forbidden, NotFound
from visitt.live.live_room import LiveRoom, Peer, actor_name, has_host_powers
from visitt.live.permissions import Action, Role, check
from visitt.rooms import P, move_participant, participant_row_id, record_event, set_paused

if TYPE_CHECKING:
    from visitt.live.hub import Hub


class Call:
    """The calls on this node. Their state is each room's ``in_call`` and ``pause``."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def enter(self, room: LiveRoom, host: Peer, *, resume: bool = False) -> None:
        """The clinician joins the call of their room. ``resume``: their page still has this room's call."""
        self.hub.check(room, host, Action.ENTER)
        async with room.lock:
            self.seat_host(room, host, resume)

    def seat_host(self, room: LiveRoom, host: Peer, resume: bool = False) -> None:
        """(Under the room's lock.) The clinician into the call: back on a new socket after a drop, or
        from another tab (which is told it was replaced), or for the first time."""
        current = room.in_call.get(host.id)
        if current is host:
            return
        if current is not None and host.id in room.away:  # the clinician's dropped socket, back again
            self.hub.presence.take_place(room, current, host)
            return
        if current is not None:  # the same clinician from another tab takes over
            current.send(protocol.encode(protocol.ErrorMessage(code="replaced", message="opened in another window")))
            room.in_call.pop(host.id)
            room.broadcast(protocol.encode(protocol.Left(participant=host.id)))
        room.in_call[host.id] = host
        # Resumed: the page keeps its peer connections (a node that restarted forgot the clinician).
        self.hub.send_admitted(room, host, resumed=resume and current is None)
        room.broadcast(protocol.encode(protocol.Joined(participant=host.info())), skip=host.id)

    def relay(self, room: LiveRoom, sender: Peer, message: protocol.Signal) -> None:
        """Pass an offer, answer or candidate between two people who are both in the call."""
        self.hub.check(room, sender, Action.SIGNAL)
        target = room.in_call.get(message.to)
        if target is None or message.to == sender.id:
            raise NotFound("that participant is not in the call", code="unknown_peer")
        target.send(protocol.encode(protocol.SignalIn(from_=sender.id, description=message.description,
                                                      candidate=message.candidate, answers=message.answers)))

    def media(self, room: LiveRoom, peer: Peer, message: protocol.Media) -> None:
        """What ``peer`` sends: microphone and camera on or off. The others in the call see it."""
        self.hub.check(room, peer, Action.MEDIA)
        peer.audio, peer.video = message.audio, message.video
        if room.in_call.get(peer.id) is peer:
            room.broadcast(protocol.encode(protocol.Updated(participant=peer.info())))

    async def flowing(self, room: LiveRoom, host: Peer) -> None:
        """The host's page saw media flow both ways: stored once, so the call is never recorded as
        completed without it (:mod:`visitt.outcomes`)."""
        self.hub.check(room, host, Action.FLOWING)
        if not room.media_flowed:
            room.media_flowed = True
            await self.hub.writes.run(outcomes.mark_media_flowed, room.db_id)

    def chat(self, room: LiveRoom, sender: Peer, message: protocol.Chat) -> None:
        self.hub.check(room, sender, Action.CHAT)
        chat.deliver(room, sender, message)

    def share(self, room: LiveRoom, peer: Peer, on: bool) -> None:
        """``peer`` sends a window in place of their camera, or the camera again: everyone sees the mark.
        Several people may share at once; each shows their own window on their own tile."""
        if on:
            self.hub.check(room, peer, Action.SHARE)
        else:  # stopping is always allowed to whoever shares
            check(room, peer, Action.SHARE, guests_may_share=True)
        peer.sharing = on
        room.broadcast(protocol.encode(protocol.Updated(participant=peer.info())))

    async def pause(self, room: LiveRoom, peer: Peer, reason: str | None) -> None:
        """Anyone in the call stops everyone's sound and picture: someone came into their room."""
        self.hub.check(room, peer, Action.PAUSE)
        async with room.lock:
            pause = protocol.PauseInfo(by=peer.id, name=peer.name, reason=reason)  # type: ignore[arg-type]
            await self.hub.writes.run(set_paused, room.db_id, pause, actor=actor_name(room, peer))
            room.pause = pause
            room.broadcast(protocol.encode(protocol.Paused(**pause.model_dump())))

    async def resume(self, room: LiveRoom, host: Peer) -> None:
        """The clinician lets sound and picture flow again; each participant's own choices return."""
        self.hub.check(room, host, Action.RESUME)
        async with room.lock:
            await self.hub.writes.run(set_paused, room.db_id, None, actor=actor_name(room, host))
            room.pause = None
            room.broadcast(protocol.encode(protocol.Resumed(by=host.id)))

    async def identify(self, room: LiveRoom, host: Peer, participant: str, method: str, note: str) -> None:
        """The clinician records how ``participant``'s identity was established; everyone sees the badge."""
        self.hub.check(room, host, Action.IDENTIFY)
        async with room.lock:
            target = room.in_call.get(participant)
            if target is None or participant == host.id or target.role == "host":
                raise NotFound("that participant is not in the call", code="unknown_peer")
            chosen = await self.hub.writes.run(identity.record_check, room.db_id, participant, method,
                                               note, staff_id=host.staff_id or room.host_id)
            target.identified = chosen.value
            room.broadcast(protocol.encode(protocol.Updated(participant=target.info())))

    async def request_id(self, room: LiveRoom, guest: Peer) -> None:
        """A guest asks the clinician to show their ID: the clinician in the call is told."""
        self.hub.check(room, guest, Action.REQUEST_ID)
        hosts = [peer for peer in room.in_call.values() if has_host_powers(peer)]
        if not hosts:
            raise Conflict("the clinician is not in the call", code="host_absent")
        await self.hub.writes.run(record_event, f"participant:{guest.id}", "id_requested", room_id=room.db_id)
        for host in hosts:
            host.send(protocol.encode(protocol.IdRequested(participant=guest.id)))

    async def ask_unmute(self, room: LiveRoom, host: Peer, to: str) -> None:
        """The clinician asks someone to turn their microphone on: only the asked page hears of it, and only
        its user can turn the microphone on (the request is audited, the answer is the usual ``media``)."""
        self.hub.check(room, host, Action.ASK_UNMUTE)
        target = room.in_call.get(to)
        if target is None or to == host.id:
            raise NotFound("that participant is not in the call", code="unknown_peer")
        await self.hub.writes.run(record_event, actor_name(room, host), "ask_unmute", room_id=room.db_id,
                                  subject=f"participant:{to}" if target.role != "host" else f"staff:{room.host_id}")
        target.send(protocol.encode(protocol.UnmuteRequested(from_=host.id)))

    async def remove(self, room: LiveRoom, host: Peer, guest_id: str) -> None:
        """Take a guest out of the call (audit ``remove``). Their link then leads only to the
        waiting room: a knock from them always waits, locked room or not."""
        role = self.hub.check(room, host, Action.REMOVE)
        async with room.lock:
            guest = room.in_call.get(guest_id)
            if guest is None or guest.role == "host" or guest_id == host.id:
                raise NotFound("that participant is not in the call", code="unknown_peer")
            if guest.cohost and role is not Role.HOST:
                raise Forbidden("only the consultation's clinician can remove a co-host", code="forbidden")
            actor = actor_name(room, host)

            def take_out(session: Session) -> None:  # move_participant locks the row
                move_participant(session, participant_row_id(session, guest_id), P.removed, actor=actor,
                                 action="remove")

            await self.hub.writes.run(take_out)
            del room.in_call[guest_id]
            self.hub.presence.back_in_time(room, guest_id)
            guest.send(protocol.encode(protocol.Removed()))
            room.broadcast(protocol.encode(protocol.Left(participant=guest_id)))
            self.hub.out_of_call(room, guest_id)
