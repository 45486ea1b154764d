"""Group calls through Janus: Visitt relays each admitted participant's offers and answers to a
VideoRoom of the call's own, and takes people out of it when they leave the call.

Why relay and not let the browser talk to Janus: one path and one protocol for the page (the
signaling socket it already has), every request made with the identity of someone Visitt admitted,
and Janus reachable from Visitt alone (``docs/meetings.md``). Each room's Janus room has its own
secret; each participant joins it with a token of their own, allowed when they first publish and
taken back when they leave, when they are also kicked (within a second: one HTTP request).

The media itself goes browser ⇄ Janus; SDP carries every candidate (no trickle), as aiortc and the
pages gather them before sending. The pages encrypt it end to end with keys from Visitt, given to
the admitted participants only and renewed when one leaves (:mod:`visitt.live.e2ee`).

A subscription asked for before that participant's media reaches Janus (they are still connecting,
or their page was reloaded) is kept and offered once it does. A participant's connections to Janus
belong to the page that made them (its ``page`` id), not to its socket: the page back on a new socket
after a drop keeps them, a reloaded page's first request drops them. A connection whose path broke is
ICE-restarted on the page's request (``sfu_restart``: the publisher's new offer; ``sfu_reoffer``:
Janus's new offer to a subscriber). When Janus loses Visitt's session (it
restarted, or stopped answering: :attr:`visitt.live.janus.Janus.lost`), every group call is told
(``sfu_server`` ``lost``), and as soon as Janus answers again each gets a new session and a new room
(``sfu_server`` ``back``): the pages publish and subscribe afresh, with the call's keys unchanged. A call that
begins while Janus is down (no session yet to lose) is taken along the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

from visitt.errors import Conflict, MediaServerUnavailable, NotFound, describe
from visitt.live import layers, protocol, protocol_sfu
from visitt.live.e2ee import SWITCH_AFTER
from visitt.live.janus import ROOM_EXISTS, Handle, Janus, JanusError, VideoRoomAdmin
from visitt.live.live_room import LiveRoom, Peer
from visitt.live.permissions import Action
from visitt.live.sfu_rooms import Member, RoomLocks, SfuRoom, audio_mids

if TYPE_CHECKING:
    from visitt.live.hub import Hub

log = logging.getLogger("visitt.sfu")

# How often a publisher's connection to Janus that has not come up yet is looked at again: it is waited for as long
# as it is theirs (a path blocked for a while, a loaded machine: it may come up late, and the others are told then)
UP_LOOK = 10.0
NO_SUCH_FEED = 428  # JANUS_VIDEOROOM_ERROR_NO_SUCH_FEED: that publisher's media no longer reaches Janus
RETRY = 2.0  # seconds between attempts to reach a Janus that lost Visitt's session
PUBLISHERS = 13  # the host and 12 others (issue 20: up to 12 participants besides the host)


class Sfu:
    """The group calls of this node on one Janus (``VISITT_JANUS_URL``; empty: none), opened at first
    use, so a Janus that is down, or none, stops nothing but group calls."""

    def __init__(self, hub: Hub, url: str, api_secret: str, *, record_dir: str | None = None) -> None:
        self.hub = hub
        self.url = url
        self.api_secret = api_secret
        self.record_dir = record_dir  # Janus records every room here: the end-to-end encryption test only
        self.rooms: dict[str, SfuRoom] = {}
        self._janus: Janus | None = None
        self._admin: VideoRoomAdmin | None = None
        self._opening = asyncio.Lock()
        self._locks = RoomLocks()
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: set[asyncio.Task[None]] = set()  # connections to Janus waited for until they come up
        self._switching: set[asyncio.Task[bool]] = set()  # layers asked for, until Janus forwards them
        self._watchers: set[asyncio.Task[None]] = set()  # one per session: waits for it to be lost
        self._recovery: asyncio.Task[None] | None = None

    @property
    def recovering(self) -> bool:
        """Janus lost Visitt's session, and the group calls wait for a new one."""
        return self._recovery is not None and not self._recovery.done()

    async def _session(self) -> tuple[Janus, VideoRoomAdmin]:
        if not self.url or self.recovering:  # being reopened: the pages are told when it is back
            raise MediaServerUnavailable()
        return await self._open()

    async def _open(self) -> tuple[Janus, VideoRoomAdmin]:
        async with self._opening:
            if self._janus is None or self._admin is None:
                janus = Janus(self.url, self.api_secret)
                await janus.open()
                try:
                    admin = await VideoRoomAdmin.attach(janus)
                except BaseException:
                    await janus.close()
                    raise
                self._janus, self._admin = janus, admin
                watcher = asyncio.get_running_loop().create_task(self._watch(janus))
                self._watchers.add(watcher)
                watcher.add_done_callback(self._watchers.discard)
            return self._janus, self._admin

    async def _watch(self, janus: Janus) -> None:
        """Wait until Janus loses this session (:attr:`Janus.lost`), then carry the group calls over to a new one."""
        await janus.lost.wait()
        async with self._opening:
            if self._janus is janus:
                self._janus = self._admin = None
        self._spawn(janus.close())
        if not self.recovering:
            self._recovery = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        """Every group call told that its media stopped, then, as soon as Janus answers again (tried every
        :data:`RETRY` seconds while any call waits), a new session, a new room per call, and the pages told
        to publish and subscribe afresh. The calls' keys stay: what the pages encrypt goes on decrypting."""
        log.warning("media server lost: %d group calls wait for it", len(self.rooms))
        for sfu_room in self.rooms.values():
            self._tell_server(sfu_room, "lost")
        while self.rooms:
            try:
                await self._reopen()
                return
            except Exception as error:  # Janus down, refusing, or answering oddly: tried again, never given up
                log.warning("media server still lost: %s", describe(error))
            await asyncio.sleep(RETRY)

    async def _reopen(self) -> None:
        _, admin = await self._open()
        done: set[str] = set()
        while waiting := [(public_id, old) for public_id, old in self.rooms.items() if public_id not in done]:
            for public_id, old in waiting:  # (again for a call whose first request came meanwhile: _wait_for_server)
                done.add(public_id)
                async with self._locks[public_id]:
                    if self.rooms.get(public_id) is not old:
                        continue  # ended meanwhile
                    await self._create(admin, old.number)
                    self.rooms[public_id] = new = SfuRoom(old.number, old.live, keys=old.keys)
                self._tell_server(new, "back")
        log.info("media server back: %d group calls on a new session", len(self.rooms))

    def _wait_for_server(self, room: LiveRoom) -> None:
        """(Under the room's lock.) A call through Janus whose first request finds Janus unreachable, before it has a
        room there (Janus was down when the call began): carried over like those that had one. Its pages are told
        ``lost`` now, and ``back`` as soon as Janus answers (:meth:`_recover`), when they publish again."""
        self.rooms[room.public_id] = sfu_room = SfuRoom(room.db_id, room)
        if self.recovering:  # tried already every RETRY seconds: this call is taken along
            self._tell_server(sfu_room, "lost")
        else:
            self._recovery = asyncio.get_running_loop().create_task(self._recover())

    @staticmethod
    def _tell_server(sfu_room: SfuRoom, state: Literal["lost", "back"]) -> None:
        """Tell everyone in the call whether the media server carries it (``sfu_server``)."""
        sfu_room.live.broadcast(protocol.encode(protocol_sfu.SfuServer(state=state)))

    async def _room(self, room: LiveRoom) -> SfuRoom:
        found = self.rooms.get(room.public_id)
        if found is not None:
            return found
        try:
            _, admin = await self._session()
        except MediaServerUnavailable:
            if self.url and (room.group or room.sfu):
                self._wait_for_server(room)
            raise
        await self._create(admin, room.db_id)
        return self.rooms.setdefault(room.public_id, SfuRoom(room.db_id, room))

    async def _create(self, admin: VideoRoomAdmin, number: int) -> None:
        try:
            await admin.create(number, publishers=PUBLISHERS, record_dir=self.record_dir)
        except JanusError as error:
            if error.code != ROOM_EXISTS:
                raise
            await admin.destroy(number)  # left over from before a restart: nobody of this node is in it
            await admin.create(number, publishers=PUBLISHERS, record_dir=self.record_dir)

    async def _member(self, room: LiveRoom, peer: Peer) -> tuple[SfuRoom, Member]:
        self.hub.check(room, peer, Action.SFU)
        sfu_room = await self._room(room)
        member = sfu_room.members.get(peer.id)
        if member is None:
            member = sfu_room.members[peer.id] = Member(token=secrets.token_urlsafe(24))
            _, admin = await self._session()
            await admin.allow(sfu_room.number, [member.token])
        return sfu_room, member

    def feeds(self, room: LiveRoom, peer_id: str) -> list[str]:
        """Who in ``room``'s call sends to Janus already, besides ``peer_id`` (``admitted.feeds``): a page
        just admitted subscribes to them at once, while its own offer is still being made."""
        sfu_room = self.rooms.get(room.public_id)
        if sfu_room is None:
            return []
        return [other for other, member in sfu_room.members.items() if member.up and other != peer_id]

    @staticmethod
    async def _drop_old_page(member: Member) -> None:
        """(Under the room's lock.) The place's page was reloaded (or taken by another tab): the old page's
        connections to Janus go, and what it received or waited for with them (the new page asks afresh)."""
        stale = [member.publisher, *member.subscriptions.values()]
        member.publisher, member.up, member.configured, member.page = None, False, False, ""
        member.subscriptions.clear()
        member.videos.clear()
        member.layered.clear()
        member.subs.clear()
        member.answered.clear()
        member.layers.clear()
        member.wanted.clear()
        for handle in stale:
            if handle is not None:
                with contextlib.suppress(JanusError, MediaServerUnavailable):
                    await handle.detach()

    @staticmethod
    async def _unpublish(member: Member) -> None:
        """(Under the room's lock.) The page's connection sending to Janus is replaced by a new one: Janus drops the
        old feed (the others' subscriptions to it stop, and they subscribe to the new one at its ``sfu_feed``)."""
        old, member.publisher, member.up, member.configured = member.publisher, None, False, False
        if old is not None:
            with contextlib.suppress(JanusError, MediaServerUnavailable):
                await old.detach()

    async def _joined(self, sfu_room: SfuRoom, member: Member, peer: Peer, page: str) -> Handle:
        """(Under the room's Janus lock.) ``page``'s publisher handle in the Janus room, joined without an
        offer: Janus lets a participant subscribe only with the ``private_id`` of a publisher of theirs
        (``require_pvtid``), and a page subscribes before its own offer is ready."""
        janus, _ = await self._session()
        member.publisher, member.page = await janus.attach(), page
        data, _ = await member.publisher.message(
            {"request": "join", "ptype": "publisher", "room": sfu_room.number, "token": member.token,
             "display": peer.id})
        member.feed, member.private_id = int(data["id"]), int(data.get("private_id", 0))
        return member.publisher

    @contextlib.asynccontextmanager
    async def _refusals(self) -> AsyncIterator[None]:
        """Janus's answers as Visitt's errors. (A session Janus lost is carried over by ``_watch``.)"""
        try:
            yield
        except JanusError as error:
            log.warning("media server refused: %s", error)
            raise Conflict("the media server refused the request", code="media_server_refused") from None

    async def publish(self, room: LiveRoom, peer: Peer, page: str, sdp: str, e2ee: bool = False) -> None:
        """``peer``'s offer to send to the call from ``page``: joined to Janus, answered; the others are told
        once the media flows (``sfu_feed``). ``e2ee``: their page encrypts its frames; they get the call's
        keys first, and everyone learns whether they encrypt (``updated``). A page that sends already
        publishes again when its connection to Janus could not be restarted: its old feed goes, what it
        receives stays. Another page of theirs (reloaded) publishing drops everything the old one had."""
        async with self._locks[room.public_id], self._refusals():
            sfu_room, member = await self._member(room, peer)
            if member.page != page:  # the place's page was reloaded: what the old one sent and received goes
                await self._drop_old_page(member)
            elif member.configured:  # this page publishes afresh: its old feed goes, what it receives stays
                await self._unpublish(member)
            early = member.publisher is not None  # joined to subscribe: configure it
            was_encrypted = sfu_room.encrypted
            member.e2ee = peer.e2ee = e2ee
            if sfu_room.encrypted != was_encrypted:  # they cannot encrypt: the call goes in clear
                self._tell_keys(room, sfu_room)
            else:
                peer.send(protocol.encode(sfu_room.keys.message(sfu_room.encrypted)))
            room.broadcast(protocol.encode(protocol.Updated(participant=peer.info())))
            offer = {"type": "offer", "sdp": sdp}
            if early:
                assert member.publisher is not None
                data, jsep = await member.publisher.message({"request": "configure", "audio": True, "video": True},
                                                            jsep=offer)
            else:
                janus, _ = await self._session()
                member.publisher, member.page = await janus.attach(), page
                data, jsep = await member.publisher.message(
                    {"request": "joinandconfigure", "ptype": "publisher", "room": sfu_room.number,
                     "token": member.token, "display": peer.id, "audio": True, "video": True}, jsep=offer)
                member.feed, member.private_id = int(data["id"]), int(data.get("private_id", 0))
            if jsep is None:
                raise MediaServerUnavailable()
            member.configured = True
            streams = data.get("streams")
            member.audio_mids = ([str(s["mid"]) for s in streams if s.get("type") == "audio"] if streams is not None
                                 else audio_mids(sdp))
            if sfu_room.members.get(peer.id) is not member:  # they left the call while Janus answered
                self._spawn(self._take_out(sfu_room.number, member, []))
                return
            feeds = [other for other, m in sfu_room.members.items() if m.up and other != peer.id]
            peer.send(protocol.encode(protocol_sfu.SfuPublished(sdp=str(jsep["sdp"]), feeds=feeds)))
        self._spawn(self._announce_when_up(room, peer.id, member), waits=True)

    async def _announce_when_up(self, room: LiveRoom, peer_id: str, member: Member) -> None:
        handle = member.publisher
        assert handle is not None
        if not await self._up(room, peer_id, member, handle):
            return  # published afresh meanwhile (that one is announced), or out of the call
        member.up = True
        if room.in_call.get(peer_id) is None:
            return
        room.broadcast(protocol.encode(protocol_sfu.SfuFeed(participant=peer_id)), skip=peer_id)
        async with self._locks[room.public_id]:  # those who asked for them before: offered now
            sfu_room = self.rooms.get(room.public_id)
            if sfu_room is None or sfu_room.members.get(peer_id) is not member:
                return
            for other_id, other in list(sfu_room.members.items()):
                asked = other.wanted.pop(peer_id, None)
                page = room.in_call.get(other_id)
                if asked is None or page is None or not member.up:
                    continue
                try:
                    await self._offer(sfu_room, page, other, peer_id, *asked)
                except (JanusError, MediaServerUnavailable) as error:
                    log.warning("media server: an offer asked for earlier: %s", describe(error))

    def _current(self, room: LiveRoom, peer_id: str, member: Member, handle: Handle) -> bool:
        """``handle`` is still how ``member`` (``peer_id``) publishes in ``room``'s call on this Janus session."""
        sfu_room = self.rooms.get(room.public_id)
        return sfu_room is not None and sfu_room.members.get(peer_id) is member and member.publisher is handle

    async def _up(self, room: LiveRoom, peer_id: str, member: Member, handle: Handle) -> bool:
        """Whether ``handle``'s connection came up (Janus's ``webrtcup``) while still theirs. Not given up after a
        while: a connection that comes up late (its path was blocked, say, during a move past the mesh) must
        still be announced, or nobody would ever receive it."""
        while self._current(room, peer_id, member, handle):
            try:
                async with asyncio.timeout(UP_LOOK):
                    while (await handle.events.get()).get("janus") != "webrtcup":
                        pass
            except TimeoutError:
                continue
            return self._current(room, peer_id, member, handle)
        return False

    async def subscribe(self, room: LiveRoom, peer: Peer, page: str, participant: str, video: bool,
                        sub: int) -> None:
        """Offer ``peer`` the streams of ``participant`` (their sound only without ``video``, or when
        ``peer`` receives ``VISITT_MAX_VIDEO_STREAMS`` pictures already: the offer then has no video).
        Someone in the call whose media does not reach Janus yet (still connecting, their page reloaded)
        is offered once it does. ``sub``: the page's number for this subscription, in the offer; it replaces
        any earlier one of the same participant. ``page``: which page asks; another page's connections
        (the page was reloaded) go first."""
        async with self._locks[room.public_id], self._refusals():
            sfu_room, member = await self._member(room, peer)
            if participant == peer.id or room.in_call.get(participant) is None:
                raise NotFound("that participant sends nothing to the media server", code="unknown_feed")
            if member.page != page:  # the place's page was reloaded: what the old one sent and received goes
                await self._drop_old_page(member)
            old = member.subscriptions.pop(participant, None)
            member.videos.pop(participant, None)
            member.layered.discard(participant)
            member.wanted.pop(participant, None)
            member.subs[participant] = sub
            member.layers.pop(participant, None)
            if old is not None:  # asked again (say, sound only now): the old connection goes
                await old.detach()
            if member.publisher is None:  # subscribing before their own offer
                # the call's keys before anything they receive (publish sends them too), then a place in Janus's room
                peer.send(protocol.encode(sfu_room.keys.message(sfu_room.encrypted)))
                await self._joined(sfu_room, member, peer, page)
            feed = sfu_room.members.get(participant)
            if feed is None or not feed.up:
                member.wanted[participant] = video, sub
                return
            await self._offer(sfu_room, peer, member, participant, video, sub)

    async def _offer(self, sfu_room: SfuRoom, peer: Peer, member: Member, participant: str, video: bool,
                     sub: int) -> None:
        """(Under the room's lock.) Join ``member`` to ``participant``'s feed on a handle of its own; its offer to ``peer``."""
        feed = sfu_room.members[participant]
        video = video and len(member.videos) < self.hub.max_video_streams  # pictures at most; sound from all
        streams = [{"feed": feed.feed}] if video else [{"feed": feed.feed, "mid": mid} for mid in feed.audio_mids]
        janus, _ = await self._session()
        handle = member.subscriptions[participant] = await janus.attach()
        try:
            data, jsep = await handle.message({"request": "join", "ptype": "subscriber", "room": sfu_room.number,
                                               "token": member.token, "private_id": member.private_id,
                                               "streams": streams})
        except JanusError as error:
            if error.code != NO_SUCH_FEED:
                raise
            # Janus dropped their media (their connection failed): offered when they publish again
            del member.subscriptions[participant]
            feed.up = False
            member.wanted[participant] = video, sub
            with contextlib.suppress(JanusError, MediaServerUnavailable):
                await handle.detach()
            return
        if jsep is None:
            raise MediaServerUnavailable()
        videos = [s for s in data.get("streams", []) if s.get("type") == "video"]
        if videos:
            member.videos[participant] = str(videos[0]["mid"])
            if "simulcast" in videos[0]:  # (an aiortc participant sends one layer)
                member.layered.add(participant)
        peer.send(protocol.encode(protocol_sfu.SfuOffer(participant=participant, sub=sub, sdp=str(jsep["sdp"]))))

    async def start(self, room: LiveRoom, peer: Peer, participant: str, sub: int, sdp: str) -> None:
        """``peer``'s answer to the ``sfu_offer`` of ``participant``'s streams: they start. The answer to an offer
        of a subscription the page has replaced since (``sub``) is dropped: Janus has no such connection now."""
        async with self._locks[room.public_id], self._refusals():
            _, member = await self._member(room, peer)
            if participant in member.subs and member.subs[participant] != sub:
                log.info("media server: an answer to a replaced subscription dropped")
                return
            handle = member.subscriptions.get(participant)
            if handle is None:
                raise Conflict("no offer from the media server to answer", code="no_offer")
            await handle.message({"request": "start"}, jsep={"type": "answer", "sdp": sdp})
            member.answered[participant] = sub

    async def layer(self, room: LiveRoom, peer: Peer, participant: str, sub: int, layer: str) -> None:
        """``peer`` receives ``participant``'s picture in the simulcast ``layer`` from now on (``h``, ``m``,
        ``l``). Janus switches at the layer's next key frame, which it asks the sender for; Visitt asks again
        until it has (:mod:`visitt.live.layers`). A subscription the page has replaced since (``sub``) is left as
        it is: the new one gets its own ``sfu_layer``."""
        async with self._locks[room.public_id], self._refusals():
            _, member = await self._member(room, peer)
            if participant in member.subs and member.subs[participant] != sub:
                return
            handle, mid = member.subscriptions.get(participant), member.videos.get(participant)
            if handle is None or mid is None:
                raise Conflict("that participant's picture is not received", code="no_video")
            member.layers[participant] = layer
            await layers.ask(handle, mid, layer)
            if participant not in member.layered:
                return  # one layer only: nothing to switch to
        switching = asyncio.get_running_loop().create_task(layers.until_switched(
            handle, mid, layer, lambda: member.subscriptions.get(participant) is handle
            and member.layers.get(participant) == layer))
        self._switching.add(switching)
        switching.add_done_callback(self._switching.discard)

    def _own(self, room: LiveRoom, peer: Peer, page: str) -> tuple[SfuRoom | None, Member | None]:
        """``peer``'s part of the call, if its connections to Janus are ``page``'s (else ``None``)."""
        self.hub.check(room, peer, Action.SFU)
        sfu_room = self.rooms.get(room.public_id)
        member = sfu_room.members.get(peer.id) if sfu_room is not None else None
        return (sfu_room, member) if member is not None and member.page == page else (sfu_room, None)

    async def restart(self, room: LiveRoom, peer: Peer, page: str, sdp: str) -> None:
        """``page``'s connection sending to Janus lost its path (a phone from Wi-Fi to 4G, a path blocked): ``sdp``
        is that connection's offer with new ICE credentials. Janus restarts ICE on it and answers
        (``sfu_restarted``); the feed, and everyone's subscriptions to it, stay as they are."""
        async with self._locks[room.public_id], self._refusals():
            _, member = self._own(room, peer, page)
            publisher = member.publisher if member is not None and member.configured else None
            if publisher is None:
                raise Conflict("this page sends nothing to the media server to restart", code="not_published")
            _, jsep = await publisher.message({"request": "configure"}, jsep={"type": "offer", "sdp": sdp})
            if jsep is None:
                raise MediaServerUnavailable()
            peer.send(protocol.encode(protocol_sfu.SfuRestarted(sdp=str(jsep["sdp"]))))

    async def reoffer(self, room: LiveRoom, peer: Peer, page: str, participant: str, sub: int) -> None:
        """``page``'s connection receiving ``participant`` (its subscription ``sub``) lost its path: Janus offers
        it again with new ICE credentials (``sfu_offer``, the same ``sub``), which the page answers with
        ``sfu_start`` as at first. A subscription replaced since is left alone: its own offer is on its way."""
        async with self._locks[room.public_id], self._refusals():
            _, member = self._own(room, peer, page)
            if member is not None and member.subs.get(participant, sub) != sub:
                log.info("media server: a restart of a replaced subscription dropped")
                return
            handle = member.subscriptions.get(participant) if member is not None else None
            if member is None or handle is None or member.answered.get(participant) != sub:
                raise Conflict("no connection receiving that participant to restart", code="not_subscribed")
            _, jsep = await handle.message({"request": "configure", "restart": True})
            if jsep is None:
                raise MediaServerUnavailable()
            peer.send(protocol.encode(protocol_sfu.SfuOffer(participant=participant, sub=sub, sdp=str(jsep["sdp"]))))

    async def can_carry(self, room: LiveRoom) -> bool:
        """Whether a consultation that grows past the mesh can move to the media server: Janus is
        configured and answers. (Under the room's lock: a Janus that hangs holds it up to the client's
        timeout, on this one admission only.)"""
        try:
            async with self._refusals():
                await self._session()
        except (MediaServerUnavailable, Conflict):
            return False
        return True

    def move(self, room: LiveRoom) -> None:
        """(Under the room's lock.) Visitt's one decision to move a mesh call to the media server: the
        room's media goes through Janus from now on, and every page in the call is told (``sfu_move``)
        to publish there and close its mesh connections once the media server's pictures come."""
        room.sfu = True
        log.info("call moved to the media server: %d in the call", len(room.in_call))
        room.broadcast(protocol.encode(protocol_sfu.SfuMove(max_video=self.hub.max_video_streams)))

    def left(self, room: LiveRoom, peer_id: str) -> None:
        """``peer_id`` is out of the call (left, removed, gone after their grace): out of Janus too, at once."""
        sfu_room = self.rooms.get(room.public_id)
        member = sfu_room.members.pop(peer_id, None) if sfu_room else None
        if sfu_room is None or member is None:
            return
        watching = [other.subscriptions.pop(peer_id) for other in sfu_room.members.values()
                    if peer_id in other.subscriptions]
        for other in sfu_room.members.values():
            other.videos.pop(peer_id, None)
            other.layered.discard(peer_id)
            other.subs.pop(peer_id, None)
            other.answered.pop(peer_id, None)
            other.layers.pop(peer_id, None)
            other.wanted.pop(peer_id, None)
        self._spawn(self._take_out(sfu_room.number, member, watching))
        if sfu_room.members:
            self._spawn(self._renew_key(room, sfu_room))

    async def _renew_key(self, room: LiveRoom, sfu_room: SfuRoom) -> None:
        """Someone left: a new key for those who stay, at once; senders switch to it once all have it,
        so that nobody's frames are undecryptable meanwhile."""
        new = sfu_room.keys.rotate()
        self._tell_keys(room, sfu_room)
        await asyncio.sleep(SWITCH_AFTER)
        if self.rooms.get(room.public_id) is sfu_room and sfu_room.keys.switch(new):
            self._tell_keys(room, sfu_room)

    @staticmethod
    def _tell_keys(room: LiveRoom, sfu_room: SfuRoom) -> None:
        """The keys to everyone in the call who sends to Janus: admitted participants only."""
        text = protocol.encode(sfu_room.keys.message(sfu_room.encrypted))
        for peer_id in sfu_room.members:
            peer = room.in_call.get(peer_id)
            if peer is not None:
                peer.send(text)

    def admitted(self, room: LiveRoom, peer: Peer) -> None:
        """``peer`` has just come into ``room``'s call: told ``lost`` while the call waits for the media server (their
        page's first requests get ``media_server_unavailable``; ``back`` comes to everyone)."""
        if room.public_id in self.rooms and self.recovering:
            peer.send(protocol.encode(protocol_sfu.SfuServer(state="lost")))

    def resumed(self, room: LiveRoom, peer: Peer) -> None:
        """``peer`` took back their place on a new socket (after a drop, a reload): the keys as they are now,
        as any sent meanwhile went to the old socket, and whether they encrypt, for the others' lists. And
        what the media server did meanwhile, which the old socket may have missed (``sfu_server``): ``lost``
        while Janus is still away; ``back`` when it came back with a new room where this page has neither
        published nor subscribed yet (the page then publishes and subscribes afresh). Its connections to Janus
        stay as they are: they are its page's, not its socket's (``Member.page``)."""
        sfu_room = self.rooms.get(room.public_id)
        if sfu_room is None:
            return
        if self.recovering:
            peer.send(protocol.encode(protocol_sfu.SfuServer(state="lost")))
            return
        member = sfu_room.members.get(peer.id)
        if member is None:
            peer.send(protocol.encode(protocol_sfu.SfuServer(state="back")))
            return
        peer.e2ee = member.e2ee
        peer.send(protocol.encode(sfu_room.keys.message(sfu_room.encrypted)))

    async def _take_out(self, number: int, member: Member, watching: list[Handle]) -> None:
        _, admin = await self._session()
        await admin.disallow(number, [member.token])
        if member.feed:
            try:
                await admin.kick(number, member.feed)
            except JanusError:
                pass  # gone from Janus already (their connection closed)
        for handle in [member.publisher, *member.subscriptions.values(), *watching]:
            if handle is not None:
                try:
                    await handle.detach()
                except JanusError:
                    pass

    def ended(self, room: LiveRoom) -> None:
        """The room has ended: its Janus room is destroyed, which hangs everyone up."""
        sfu_room = self.rooms.pop(room.public_id, None)
        self._locks.pop(room.public_id, None)
        if sfu_room is not None:
            self._spawn(self._destroy(sfu_room.number))

    async def _destroy(self, number: int) -> None:
        _, admin = await self._session()
        await admin.destroy(number)

    def _spawn(self, work: Any, *, waits: bool = False) -> None:
        """Run ``work`` in the background, its errors logged. ``waits``: it waits on something that may never come
        (a connection coming up), and is cancelled at shutdown rather than awaited."""
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._logged(work))
        tasks = self._waiting if waits else self._tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    @staticmethod
    async def _logged(work: Any) -> None:
        try:
            await work
        except Exception as error:  # a kick or destroy that failed: Janus's own timeouts end the rest
            log.warning("media server: %s", describe(error))

    async def close(self) -> None:
        """At shutdown: pending kicks done, the Janus session ended."""
        stopped = [*self._watchers, *self._waiting, *self._switching, *([self._recovery] if self._recovery else [])]
        for task in stopped:
            task.cancel()
        await asyncio.gather(*stopped, return_exceptions=True)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._janus is not None:
            await self._janus.close()
            self._janus = self._admin = None
