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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from visitt.errors import Conflict, MediaServerUnavailable, NotFound, describe
from visitt.live import protocol
from visitt.live.e2ee import SWITCH_AFTER, KeyRing
from visitt.live.janus import ROOM_EXISTS, Handle, Janus, JanusError, VideoRoomAdmin
from visitt.live.live_room import LiveRoom, Peer
from visitt.live.permissions import Action

if TYPE_CHECKING:
    from visitt.live.hub import Hub

log = logging.getLogger("visitt.sfu")

UP_TIMEOUT = 10.0  # seconds for a publisher's connection to Janus to come up before others are told of it
NO_SUCH_SESSION = 458  # JANUS_ERROR_SESSION_NOT_FOUND: Janus restarted, or dropped our session
PUBLISHERS = 13  # the host and 12 others (issue 20: up to 12 participants besides the host)
# Janus's simulcast substreams, lowest first: the rids of sfu.js's LAYERS (quarter, half, full resolution)
SUBSTREAMS = {"l": 0, "m": 1, "h": 2}
ALL_TEMPORAL = 2  # every frame of the layer (VP8's temporal layers 0-2)


@dataclass
class Member:
    """One participant's part of a group call on Janus."""

    token: str
    publisher: Handle | None = None
    sender: Peer | None = None  # the page (socket) that publishes: a reloaded page is a new one
    feed: int = 0  # Janus's id for what they publish; 0 until they publish
    private_id: int = 0
    audio_mids: list[str] = field(default_factory=list)  # which of their streams are sound
    up: bool = False  # their connection to Janus carries media: others may subscribe
    configured: bool = False  # their publisher handle carries their offer (joined before it: to subscribe early)
    e2ee: bool | None = None  # their page encrypts what it sends (None: sends nothing yet)
    # What they receive: one subscriber handle (one connection) per participant they see or hear.
    # One each, not all streams on one connection: aiortc cannot yet tell apart two video streams
    # with one payload type on one connection, and a connection of its own is also what lets a page
    # drop one picture without renegotiating the rest.
    subscriptions: dict[str, Handle] = field(default_factory=dict)
    videos: dict[str, str] = field(default_factory=dict)  # whose picture they receive: its mid on that connection


@dataclass
class SfuRoom:
    number: int
    members: dict[str, Member] = field(default_factory=dict)
    keys: KeyRing = field(default_factory=KeyRing)  # the frame encryption's (visitt.live.e2ee), in memory only

    @property
    def encrypted(self) -> bool:
        """Everyone sending to Janus encrypts: one who cannot could not decrypt the others either."""
        return all(member.e2ee is not False for member in self.members.values())


def audio_mids(sdp: str) -> list[str]:
    """The ``mid`` of each sound section of an SDP (Janus names a publisher's streams by the offer's mids)."""
    mids: list[str] = []
    kind = ""
    for line in sdp.splitlines():
        if line.startswith("m="):
            kind = line[2:].split(" ", 1)[0]
        elif line.startswith("a=mid:") and kind == "audio":
            mids.append(line[len("a=mid:"):].strip())
    return mids


class _Locks(dict[str, asyncio.Lock]):
    """One lock per room for its requests to Janus: not the live room's own, so a slow or hanging Janus
    never holds up admitting, removing or ending in that room."""

    def __missing__(self, key: str) -> asyncio.Lock:
        lock = self[key] = asyncio.Lock()
        return lock


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
        self._locks = _Locks()
        self._tasks: set[asyncio.Task[None]] = set()

    async def _session(self) -> tuple[Janus, VideoRoomAdmin]:
        if not self.url:
            raise MediaServerUnavailable()
        async with self._opening:
            if self._janus is None or self._admin is None:
                janus = Janus(self.url, self.api_secret)
                await janus.open()
                self._janus, self._admin = janus, await VideoRoomAdmin.attach(janus)
            return self._janus, self._admin

    async def _room(self, room: LiveRoom) -> SfuRoom:
        found = self.rooms.get(room.public_id)
        if found is not None:
            return found
        _, admin = await self._session()
        number = room.db_id
        try:
            await admin.create(number, publishers=PUBLISHERS, record_dir=self.record_dir)
        except JanusError as error:
            if error.code != ROOM_EXISTS:
                raise
            await admin.destroy(number)  # left over from before a restart: nobody of this node is in it
            await admin.create(number, publishers=PUBLISHERS, record_dir=self.record_dir)
        return self.rooms.setdefault(room.public_id, SfuRoom(number))

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

    async def _joined(self, sfu_room: SfuRoom, member: Member, peer: Peer) -> Handle:
        """(Under the room's Janus lock.) ``peer``'s publisher handle in the Janus room, joined without an
        offer if they have none yet: Janus lets a participant subscribe only with the ``private_id`` of a
        publisher of theirs (``require_pvtid``), and a page subscribes before its own offer is ready. A
        reloaded page's old handle goes (its media with it), as at publish."""
        if member.publisher is not None and member.sender is peer:
            return member.publisher
        if member.publisher is not None:
            old, member.publisher, member.up, member.configured = member.publisher, None, False, False
            with contextlib.suppress(JanusError):
                await old.detach()
        janus, _ = await self._session()
        member.publisher, member.sender = await janus.attach(), peer
        data, _ = await member.publisher.message(
            {"request": "join", "ptype": "publisher", "room": sfu_room.number, "token": member.token,
             "display": peer.id})
        member.feed, member.private_id = int(data["id"]), int(data.get("private_id", 0))
        return member.publisher

    @contextlib.asynccontextmanager
    async def _refusals(self) -> AsyncIterator[None]:
        """Janus's answers as Visitt's errors; a Janus that went away is opened afresh next time."""
        try:
            yield
        except JanusError as error:
            if error.code == NO_SUCH_SESSION:  # Janus restarted: its rooms are gone with our session
                self._janus = self._admin = None
                self.rooms.clear()
            log.warning("media server refused: %s", error)
            raise Conflict("the media server refused the request", code="media_server_refused") from None
        except MediaServerUnavailable:
            self._janus = self._admin = None
            raise

    async def publish(self, room: LiveRoom, peer: Peer, sdp: str, e2ee: bool = False) -> None:
        """``peer``'s offer to send to the call: joined to Janus, answered; the others are told once
        the media flows (``sfu_feed``). ``e2ee``: their page encrypts its frames; they get the call's
        keys first, and everyone learns whether they encrypt (``updated``)."""
        async with self._locks[room.public_id], self._refusals():
            sfu_room, member = await self._member(room, peer)
            if member.publisher is not None and member.sender is peer and member.configured:
                raise Conflict("already sending to the media server", code="already_publishing")
            early = member.publisher is not None and member.sender is peer  # joined to subscribe: configure it
            if member.publisher is not None and not early:  # the place's page was reloaded: its old connection goes
                old, member.publisher, member.up, member.configured = member.publisher, None, False, False
                with contextlib.suppress(JanusError):
                    await old.detach()
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
                member.publisher, member.sender = await janus.attach(), peer
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
            peer.send(protocol.encode(protocol.SfuPublished(sdp=str(jsep["sdp"]), feeds=feeds)))
        self._spawn(self._announce_when_up(room, peer.id, member))

    async def _announce_when_up(self, room: LiveRoom, peer_id: str, member: Member) -> None:
        handle = member.publisher
        assert handle is not None
        async with asyncio.timeout(UP_TIMEOUT):
            while (await handle.events.get()).get("janus") != "webrtcup":
                pass
        member.up = True
        if room.in_call.get(peer_id) is not None:
            room.broadcast(protocol.encode(protocol.SfuFeed(participant=peer_id)), skip=peer_id)

    async def subscribe(self, room: LiveRoom, peer: Peer, participant: str, video: bool) -> None:
        """Offer ``peer`` the streams of ``participant`` (their sound only without ``video``, or when
        ``peer`` receives ``VISITT_MAX_VIDEO_STREAMS`` pictures already: the offer then has no video)."""
        async with self._locks[room.public_id], self._refusals():
            sfu_room, member = await self._member(room, peer)
            feed = sfu_room.members.get(participant)
            if feed is None or not feed.up or participant == peer.id:
                raise NotFound("that participant sends nothing to the media server", code="unknown_feed")
            old = member.subscriptions.pop(participant, None)
            member.videos.pop(participant, None)
            if old is not None:  # asked again (say, sound only now): the old connection goes
                await old.detach()
            if member.publisher is None or member.sender is not peer:  # subscribing before their own offer
                # the call's keys before anything they receive (publish sends them too), then a place in Janus's room
                peer.send(protocol.encode(sfu_room.keys.message(sfu_room.encrypted)))
                await self._joined(sfu_room, member, peer)
            video = video and len(member.videos) < self.hub.max_video_streams  # pictures at most; sound from all
            streams = [{"feed": feed.feed}] if video else [{"feed": feed.feed, "mid": mid} for mid in feed.audio_mids]
            janus, _ = await self._session()
            handle = member.subscriptions[participant] = await janus.attach()
            data, jsep = await handle.message({"request": "join", "ptype": "subscriber", "room": sfu_room.number,
                                               "token": member.token, "private_id": member.private_id,
                                               "streams": streams})
            if jsep is None:
                raise MediaServerUnavailable()
            mids = [str(s["mid"]) for s in data.get("streams", []) if s.get("type") == "video"]
            if mids:
                member.videos[participant] = mids[0]
            peer.send(protocol.encode(protocol.SfuOffer(participant=participant, sdp=str(jsep["sdp"]))))

    async def start(self, room: LiveRoom, peer: Peer, participant: str, sdp: str) -> None:
        """``peer``'s answer to the ``sfu_offer`` of ``participant``'s streams: they start."""
        async with self._locks[room.public_id], self._refusals():
            _, member = await self._member(room, peer)
            handle = member.subscriptions.get(participant)
            if handle is None:
                raise Conflict("no offer from the media server to answer", code="no_offer")
            await handle.message({"request": "start"}, jsep={"type": "answer", "sdp": sdp})

    async def layer(self, room: LiveRoom, peer: Peer, participant: str, layer: str) -> None:
        """``peer`` receives ``participant``'s picture in the simulcast ``layer`` from now on (``h``, ``m``,
        ``l``). Janus switches at the layer's next key frame, which it asks the sender for."""
        async with self._locks[room.public_id], self._refusals():
            _, member = await self._member(room, peer)
            handle, mid = member.subscriptions.get(participant), member.videos.get(participant)
            if handle is None or mid is None:
                raise Conflict("that participant's picture is not received", code="no_video")
            await handle.message({"request": "configure", "streams": [
                {"mid": mid, "substream": SUBSTREAMS[layer], "temporal": ALL_TEMPORAL}]})

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
        room.broadcast(protocol.encode(protocol.SfuMove(max_video=self.hub.max_video_streams)))

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

    def resumed(self, room: LiveRoom, peer: Peer) -> None:
        """``peer`` took back their place on a new socket (after a drop, a reload): the keys as they are now,
        as any sent meanwhile went to the old socket, and whether they encrypt, for the others' lists."""
        sfu_room = self.rooms.get(room.public_id)
        member = sfu_room.members.get(peer.id) if sfu_room else None
        if sfu_room is None or member is None:
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

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._logged(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _logged(work: Any) -> None:
        try:
            await work
        except Exception as error:  # a kick or destroy that failed: Janus's own timeouts end the rest
            log.warning("media server: %s", describe(error))

    async def close(self) -> None:
        """At shutdown: pending kicks done, the Janus session ended."""
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._janus is not None:
            await self._janus.close()
            self._janus = self._admin = None
