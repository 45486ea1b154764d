"""A group call through Janus, relayed by Visitt's signaling (visitt/live/sfu.py): three aiortc
participants - the clinician, the patient and a companion - each send to the call's Janus room and
receive the two others, told apart by colour; the companion removed in Visitt is out of Janus
within a second; the ended call's Janus room is gone. And with Janus down, a group call is refused
with a clear error while a one-to-one call on the mesh still works. An answer to a subscription the page has
replaced goes nowhere; a page back on a new socket keeps its connections to Janus and a reloaded one replaces
them; ICE restarts asked for by the page (``sfu_restart``, ``sfu_reoffer``); a page whose socket was down while
Janus went and came back is told on its return; a Janus that hangs (SIGSTOP) is noticed within seconds, one that
only pauses for a second is not; a group call begun while Janus was down is carried over once Janus is back."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from visitt.live.janus import ROOM_NOT_FOUND, Janus, JanusError, VideoRoomAdmin
from visitt.live.janus_config import admin_key
from visitt.testing import LiveServer

from . import test_call_aiortc
from .conftest import make_settings
from .janus import SECRET, JanusServer, free_port
from .peers import ColourTrack, ToneTrack, WsClient, run, staff_login

BLUE, ORANGE, GREEN = (20, 60, 220), (240, 140, 20), (30, 200, 60)
PAGE = "a-page-of-the-test"  # a page's id in its sfu_* messages, where one page is all there is


def _book_group(server: LiveServer, *, group: bool = True) -> tuple[str, str]:
    """An appointment (a group consultation, or one-to-one) with a companion invited: the patient's and
    the companion's tokens."""
    starts_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    owner = {"Authorization": f"Bearer {server.token}"}
    booked = server.post(f"{server.url}/api/v1/appointments", headers=owner, json={
        "patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": starts_at.isoformat(),
        "duration_minutes": 30, "group": group})
    assert booked.status_code == 201, booked.text
    invited = server.post(f"{server.url}/api/v1/appointments/{booked.json()['id']}/participants", headers=owner,
                          json={"name": "Ola Nordmann", "kind": "companion", "phone": "412 34 568"})
    assert invited.status_code == 201, invited.text
    return booked.json()["join_url"].rsplit("/v/", 1)[1], invited.json()["join_url"].rsplit("/v/", 1)[1]


class GroupPeer:
    """One participant's media through Janus: one connection sending, one receiving per other participant."""

    def __init__(self, signaling: WsClient, colour: tuple[int, int, int]) -> None:
        self.signaling = signaling
        self.sending = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.receiving: dict[str, RTCPeerConnection] = {}
        self.local: list[MediaStreamTrack] = [ToneTrack(), ColourTrack(colour)]
        self.feeds: set[str] = set()
        self.subs = 0  # the number of the latest subscription (sfu.js counts them the same way)
        self.page = secrets.token_hex(16)  # the page's id (sfu.js makes one per page)

    async def publish(self) -> None:
        for track in self.local:
            self.sending.addTrack(track)
        await self.sending.setLocalDescription(await self.sending.createOffer())
        await self.signaling.send({"type": "sfu_publish", "page": self.page, "sdp": self.sending.localDescription.sdp})
        published = await self.signaling.expect("sfu_published")
        self.feeds |= set(published["feeds"])
        await self.sending.setRemoteDescription(RTCSessionDescription(sdp=published["sdp"], type="answer"))

    async def wait_for_feeds(self, others: set[str]) -> None:
        while not others <= self.feeds:
            self.feeds.add((await self.signaling.expect("sfu_feed", timeout=10))["participant"])

    async def subscribe(self, other: str, video: bool = True) -> dict[str, MediaStreamTrack]:
        """Receive ``other``: their tracks, by kind (sound only without ``video``)."""
        pc = self.receiving[other] = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        tracks: dict[str, MediaStreamTrack] = {}
        pc.on("track", lambda track: tracks.__setitem__(track.kind, track))
        self.subs += 1
        await self.signaling.send({"type": "sfu_subscribe", "page": self.page, "participant": other, "sub": self.subs,
                                   "video": video})
        offer = await self.signaling.expect("sfu_offer")
        assert (offer["participant"], offer["sub"]) == (other, self.subs)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await self.signaling.send({"type": "sfu_start", "participant": other, "sub": self.subs,
                                   "sdp": pc.localDescription.sdp})
        assert sorted(tracks) == (["audio", "video"] if video else ["audio"]), sorted(tracks)
        return tracks

    async def close(self) -> None:
        for track in self.local:
            track.stop()
        await asyncio.gather(self.sending.close(), *(pc.close() for pc in self.receiving.values()))


async def sees(track: MediaStreamTrack, colour: tuple[int, int, int]) -> None:
    """``colour`` within 60 frames: the first ones, decoded before a key frame came through, are grey."""
    for _ in range(60):
        frame: Any = await asyncio.wait_for(track.recv(), 10)
        picture = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
        if np.all(np.abs(picture - colour) < 25):
            return
    raise AssertionError(f"saw {picture}, not {colour}")


async def hears(track: MediaStreamTrack) -> None:
    for _ in range(25):  # half a second: past the codec's start-up
        sound: Any = await asyncio.wait_for(track.recv(), 10)
    assert np.abs(sound.to_ndarray()).max() > 1000, "silence"


async def janus_rooms(admin: VideoRoomAdmin) -> dict[int, list[str]]:
    """Every room on Janus, private ones too, with who publishes in it (by their display: the peer id)."""
    data, _ = await admin.handle.message({"request": "list", "admin_key": admin_key(SECRET)})
    rooms: dict[int, list[str]] = {}
    for room in data["list"]:
        try:
            rooms[int(room["room"])] = [p["display"] for p in await admin.participants(int(room["room"]))]
        except JanusError as error:
            if error.code != ROOM_NOT_FOUND:  # a room destroyed between the list and the question is gone
                raise
    return rooms


async def group_call(server: LiveServer, janus: JanusServer) -> None:
    patient_token, companion_token = _book_group(server)
    cookie = staff_login(server)
    async with await WsClient.staff(server, cookie) as host, await WsClient.guest(server, patient_token) as patient, \
            await WsClient.guest(server, companion_token) as companion, Janus(janus.url, SECRET) as observer:
        admin = await VideoRoomAdmin.attach(observer)  # the test's own look at Janus
        ids = [(await socket.hello())["id"] for socket in (host, patient, companion)]
        for guest in (patient, companion):
            await guest.send({"type": "knock", "name": "Kari Nordmann" if guest is patient else "Ola Nordmann"})
            knock = await host.expect("knock")
            assert knock["participant"]["name"] in ("Kari Nordmann", "Ola Nordmann")  # the host knows who knocks
            await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})
            admitted = await guest.expect("admitted")
            assert (admitted["media"], admitted["max_video"]) == ("sfu", 4)
        # in the call, everyone sees the group's patients by their first names only
        assert [(await host.expect("joined"))["participant"]["name"] for _ in range(2)] == ["Kari", "Ola"]
        room = knock["room"]
        peers = [GroupPeer(socket, colour) for socket, colour in ((host, BLUE), (patient, ORANGE), (companion, GREEN))]
        colours = dict(zip(ids, (BLUE, ORANGE, GREEN)))
        try:
            for peer in peers:
                await peer.publish()
            await asyncio.gather(*(peer.wait_for_feeds(set(ids) - {own}) for peer, own in zip(peers, ids)))
            async def receive_the_others(peer: GroupPeer, own: str) -> list[tuple[str, dict[str, MediaStreamTrack]]]:
                return [(other, await peer.subscribe(other)) for other in ids if other != own]

            received = [pair for pairs in await asyncio.gather(*map(receive_the_others, peers, ids)) for pair in pairs]
            await asyncio.gather(*(sees(tracks["video"], colours[who]) for who, tracks in received),
                                 *(hears(tracks["audio"]) for _, tracks in received))
            assert sorted((await janus_rooms(admin)).popitem()[1]) == sorted(ids)

            await host.send({"type": "remove", "room": room, "participant": ids[2]})
            removed_at = time.monotonic()
            await companion.expect("removed")
            while ids[2] in (await janus_rooms(admin)).popitem()[1]:
                assert time.monotonic() - removed_at < 1.0, "still in Janus a second after the removal"
            await host.send({"type": "end", "room": room})
            await host.expect("ended")
            deadline = time.monotonic() + 5
            while await janus_rooms(admin):
                assert time.monotonic() < deadline, "the ended call's Janus room is still there"
                await asyncio.sleep(0.05)
        finally:
            await asyncio.gather(*(peer.close() for peer in peers))


def test_a_group_of_three_through_janus_sees_each_other_and_removal_kicks(janus: JanusServer, tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET)).start()
    try:
        run(group_call(server, janus))
    finally:
        server.stop()


async def late_joiner(server: LiveServer) -> None:
    """The clinician and the patient send already; the companion, admitted after, is told who (``admitted.feeds``),
    receives the clinician before sending anything (the keys first, then Janus's offer), and is seen once it sends."""
    patient_token, companion_token = _book_group(server)
    async with await WsClient.staff(server, staff_login(server)) as host, \
            await WsClient.guest(server, patient_token) as patient, \
            await WsClient.guest(server, companion_token) as companion:
        ids = [(await socket.hello())["id"] for socket in (host, patient, companion)]
        await patient.send({"type": "knock", "name": "Kari Nordmann"})
        knock = await host.expect("knock")
        await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})
        assert (await patient.expect("admitted"))["feeds"] == []  # nobody sends yet
        peers = [GroupPeer(socket, colour) for socket, colour in ((host, BLUE), (patient, ORANGE), (companion, GREEN))]
        try:
            for peer in peers[:2]:
                await peer.publish()
            await peers[0].wait_for_feeds({ids[1]})
            await peers[1].wait_for_feeds({ids[0]})
            await companion.send({"type": "knock", "name": "Ola Nordmann"})
            knock = await host.expect("knock")
            await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})
            admitted = await companion.expect("admitted")
            assert sorted(admitted["feeds"]) == sorted(ids[:2])
            tracks = await peers[2].subscribe(ids[0])  # before its own sfu_publish
            assert companion.types.index("sfu_keys") < companion.types.index("sfu_offer")
            assert "sfu_published" not in companion.types
            await sees(tracks["video"], BLUE)
            await peers[2].publish()  # into the place in Janus's room made for the subscription
            await peers[0].wait_for_feeds({ids[2]})
            await sees((await peers[0].subscribe(ids[2]))["video"], GREEN)
            await companion.sync()
            assert "error" not in companion.types, companion.received
        finally:
            await asyncio.gather(*(peer.close() for peer in peers))


def test_someone_admitted_later_receives_before_sending_and_is_then_seen(janus: JanusServer, tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET)).start()
    try:
        run(late_joiner(server))
    finally:
        server.stop()


async def janus_down(server: LiveServer) -> None:
    patient_token, _ = _book_group(server, group=False)
    async with await WsClient.staff(server, staff_login(server)) as host, \
            await WsClient.guest(server, patient_token) as patient:
        await host.hello()
        await patient.hello()
        await patient.send({"type": "knock", "name": "Kari Nordmann"})
        knock = await host.expect("knock")
        await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})
        await patient.expect("admitted")
        await patient.send({"type": "sfu_publish", "page": PAGE, "sdp": "v=0"})
        error = await patient.expect_error("media_server_unavailable")
        assert "One-to-one consultations still work" in error["message"]


def test_janus_down_refuses_a_group_call_and_a_one_to_one_call_still_works(tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=f"http://127.0.0.1:{free_port()}/janus",
                                      janus_api_secret=SECRET)).start()
    try:
        run(janus_down(server))
        run(test_call_aiortc.call(server))  # the mesh: media browser to browser, no Janus needed
    finally:
        server.stop()


async def admit(host: WsClient, *guests: WsClient) -> list[dict[str, Any]]:
    """Each guest knocks and the host admits them, in turn; their ``admitted`` messages."""
    admitted = []
    for guest in guests:
        await guest.send({"type": "knock", "name": "Kari Nordmann"})
        knock = await host.expect("knock")
        await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})
        admitted.append(await guest.expect("admitted"))
    return admitted


@asynccontextmanager
async def clinician_and_patient(server: LiveServer) -> AsyncIterator[tuple[WsClient, WsClient, str, list[str]]]:
    """A group consultation with its clinician's socket and its patient's, the patient admitted: the two sockets,
    the patient's token and the two participant ids."""
    patient_token, _ = _book_group(server)
    async with await WsClient.staff(server, staff_login(server)) as host, \
            await WsClient.guest(server, patient_token) as patient:
        ids = [(await socket.hello())["id"] for socket in (host, patient)]
        await admit(host, patient)
        yield host, patient, patient_token, ids


@asynccontextmanager
async def rejoined(server: LiveServer, token: str, key: str) -> AsyncIterator[WsClient]:
    """The guest's page back on a new socket with its place's key, taken back (``resumed``)."""
    async with await WsClient.guest(server, token) as socket:
        await socket.hello()
        await socket.send({"type": "rejoin", "key": key})
        assert (await socket.expect("admitted"))["resumed"] is True
        yield socket


async def video_limit(server: LiveServer) -> None:
    patient_token, companion_token = _book_group(server)
    async with await WsClient.staff(server, staff_login(server)) as host, \
            await WsClient.guest(server, patient_token) as patient, \
            await WsClient.guest(server, companion_token) as companion:
        ids = [(await socket.hello())["id"] for socket in (host, patient, companion)]
        assert [admitted["max_video"] for admitted in await admit(host, patient, companion)] == [1, 1]
        peers = [GroupPeer(socket, colour) for socket, colour in ((host, BLUE), (patient, ORANGE), (companion, GREEN))]
        try:
            for peer in peers:
                await peer.publish()
            await peers[0].wait_for_feeds(set(ids[1:]))
            await peers[0].subscribe(ids[1])  # the one picture: sound and video
            await host.send({"type": "sfu_subscribe", "page": peers[0].page, "participant": ids[2], "sub": 2})  # a 2nd picture
            offer = await host.expect("sfu_offer")
            assert offer["participant"] == ids[2]
            assert "m=audio" in offer["sdp"] and "m=video" not in offer["sdp"]  # past the limit: sound only
            await host.send({"type": "sfu_layer", "participant": ids[2], "sub": 2, "layer": "l"})
            await host.expect_error("no_video")
            await host.send({"type": "sfu_layer", "participant": ids[1], "sub": 1, "layer": "l"})  # the one picture: fine
            await host.sync()
            assert host.types.count("error") == 1  # the no_video above only
        finally:
            await asyncio.gather(*(peer.close() for peer in peers))


def test_a_participant_receives_at_most_the_configured_pictures_and_sound_from_all(janus: JanusServer,
                                                                                     tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET,
                                      max_video_streams=1)).start()
    try:
        run(video_limit(server))
    finally:
        server.stop()


def test_without_janus_an_invitation_past_the_mesh_is_still_refused(tmp_path: Path) -> None:
    """Growth needs a Janus that answers: with it down, the mesh's limit stands as before."""
    server = LiveServer(make_settings(tmp_path, janus_url=f"http://127.0.0.1:{free_port()}/janus",
                                      janus_api_secret=SECRET, max_participants=2)).start()
    try:
        starts_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
        owner = {"Authorization": f"Bearer {server.token}"}
        booked = server.post(f"{server.url}/api/v1/appointments", headers=owner, json={
            "patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": starts_at.isoformat(),
            "duration_minutes": 30})
        assert booked.status_code == 201, booked.text
        invited = server.post(f"{server.url}/api/v1/appointments/{booked.json()['id']}/participants", headers=owner,
                              json={"name": "Ola Nordmann", "kind": "companion", "phone": "412 34 568"})
        assert invited.status_code == 409 and invited.json()["error"]["code"] == "invites_full", invited.text
    finally:
        server.stop()


async def late_and_reloaded(server: LiveServer) -> None:
    patient_token, companion_token = _book_group(server)
    async with await WsClient.staff(server, staff_login(server)) as host, \
            await WsClient.guest(server, patient_token) as patient, \
            await WsClient.guest(server, companion_token) as companion:
        ids = [(await socket.hello())["id"] for socket in (host, patient, companion)]
        await admit(host, patient, companion)
        peers = [GroupPeer(socket, colour) for socket, colour in ((host, BLUE), (patient, ORANGE), (companion, GREEN))]
        again: GroupPeer | None = None
        try:
            await peers[0].publish()
            await peers[1].publish()
            await peers[1].wait_for_feeds({ids[0]})
            # the patient asks for the companion, who sends nothing yet: no error, the offer comes once they do
            receiving = asyncio.create_task(peers[1].subscribe(ids[2]))
            await patient.sync()
            assert "error" not in patient.types and not receiving.done()
            await peers[2].publish()
            await sees((await receiving)["video"], GREEN)
            assert "error" not in patient.types

            # the patient's page reloaded: a new socket takes the place back and asks for the clinician's picture,
            # the one picture it may have (max_video 1): what the old page received does not count against it
            await patient.close()
            async with await WsClient.guest(server, patient_token) as reloaded:
                await reloaded.hello()
                await reloaded.send({"type": "rejoin", "key": patient.key})
                assert (await reloaded.expect("admitted"))["resumed"] is True
                again = GroupPeer(reloaded, ORANGE)
                await again.publish()
                tracks = await again.subscribe(ids[0])
                await sees(tracks["video"], BLUE)
                await hears(tracks["audio"])
        finally:
            await asyncio.gather(*(peer.close() for peer in [*peers, *([again] if again else [])]))


def test_a_participant_not_sending_yet_is_offered_once_they_do_and_a_reloaded_page_gets_its_pictures(
        janus: JanusServer, tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET,
                                      max_video_streams=1, reconnect_grace=30)).start()
    try:
        run(late_and_reloaded(server))
    finally:
        server.stop()


async def replaced_subscription(server: LiveServer) -> None:
    """The clinician asks for the patient's sound only, then at once for their picture too: the offer for the
    first subscription comes first, and an answer to it (the page had not yet seen the second offer) goes
    nowhere; the second offer, answered, brings the picture."""
    async with clinician_and_patient(server) as (host, patient, _, ids):
        peers = [GroupPeer(host, BLUE), GroupPeer(patient, ORANGE)]
        stale = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            for peer in peers:
                await peer.publish()
            await peers[0].wait_for_feeds({ids[1]})
            await host.send({"type": "sfu_subscribe", "page": peers[0].page, "participant": ids[1], "sub": 1,
                             "video": False})
            await host.send({"type": "sfu_subscribe", "page": peers[0].page, "participant": ids[1], "sub": 2})
            first = await host.expect("sfu_offer")
            assert first["sub"] == 1 and "m=video" not in first["sdp"]
            await stale.setRemoteDescription(RTCSessionDescription(sdp=first["sdp"], type="offer"))
            await stale.setLocalDescription(await stale.createAnswer())
            await host.send({"type": "sfu_start", "participant": ids[1], "sub": 1, "sdp": stale.localDescription.sdp})
            await host.send({"type": "sfu_layer", "participant": ids[1], "sub": 1, "layer": "l"})
            second = await host.expect("sfu_offer")
            assert second["sub"] == 2 and "m=video" in second["sdp"]
            pc = peers[0].receiving[ids[1]] = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            tracks: dict[str, MediaStreamTrack] = {}
            pc.on("track", lambda track: tracks.__setitem__(track.kind, track))
            await pc.setRemoteDescription(RTCSessionDescription(sdp=second["sdp"], type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            await host.send({"type": "sfu_start", "participant": ids[1], "sub": 2, "sdp": pc.localDescription.sdp})
            await sees(tracks["video"], ORANGE)
            await hears(tracks["audio"])
            await host.sync()
            assert "error" not in host.types, host.received  # the old subscription's answer and layer: dropped
        finally:
            await asyncio.gather(stale.close(), *(peer.close() for peer in peers))


def test_an_answer_to_a_replaced_subscription_is_dropped_and_the_new_one_brings_the_picture(
        janus: JanusServer, tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET)).start()
    try:
        run(replaced_subscription(server))
    finally:
        server.stop()


def ufrag(sdp: str) -> str:
    return next(line for line in sdp.splitlines() if line.startswith("a=ice-ufrag:"))


async def same_page_on_a_new_socket(server: LiveServer) -> None:
    """The patient's socket drops and the same page comes back on a new one (the same ``page``): its connections to
    Janus stay. It subscribes on the new socket, and the clinician goes on seeing it on the same connection, told of
    no new feed. An ICE restart of a receiving connection gets the same subscription offered again with new ICE
    credentials; one of a replaced subscription nothing; restarts from a page that has nothing, or with an offer
    Janus cannot take, an error.
    Then the page is reloaded (a new ``page``): its first subscription drops the old page's connections, and the
    clinician is told of its new feed once it publishes."""
    async with clinician_and_patient(server) as (host, patient, patient_token, ids):
        peers = [GroupPeer(host, BLUE), GroupPeer(patient, ORANGE)]
        try:
            for peer in peers:
                await peer.publish()
            await peers[0].wait_for_feeds({ids[1]})
            seen = (await peers[0].subscribe(ids[1]))["video"]
            await sees(seen, ORANGE)
            key = patient.key
            assert key is not None
            await patient.close()
            async with rejoined(server, patient_token, key) as back:
                peers[1].signaling = back  # the same page, on its new socket
                await sees((await peers[1].subscribe(ids[0]))["video"], BLUE)
                # the clinician's picture of the patient goes on, on the same connection (failed before: the subscription
                # above, from a new socket, dropped all the patient's connections to Janus as a reloaded page's)
                await sees(seen, ORANGE)
                page, sub = peers[1].page, peers[1].subs
                await back.send({"type": "sfu_reoffer", "page": page, "participant": ids[0], "sub": sub - 1})
                await back.send({"type": "sfu_restart", "page": "another-page-of-hers", "sdp": "v=0"})
                assert (await back.expect("error"))["code"] == "not_published"
                await back.send({"type": "sfu_reoffer", "page": page, "participant": ids[1], "sub": sub})
                assert (await back.expect("error"))["code"] == "not_subscribed"
                before = peers[1].receiving[ids[0]].remoteDescription.sdp
                await back.send({"type": "sfu_reoffer", "page": page, "participant": ids[0], "sub": sub})
                offer = await back.expect("sfu_offer")
                assert offer["sub"] == sub and ufrag(offer["sdp"]) != ufrag(before)  # an ICE restart's offer
                await back.sync()
                assert back.types.count("sfu_offer") == 2, back.types  # the first reoffer, for an old sub: dropped
                await host.sync()
                assert [m["participant"] for m in host.received if m["type"] == "sfu_feed"] == [ids[1]]
                await back.send({"type": "sfu_restart", "page": page, "sdp": "v=0"})  # not an offer Janus can take
                assert (await back.expect("error"))["code"] == "media_server_refused"

                reloaded = GroupPeer(back, GREEN)  # the page reloaded: a new page id
                peers.append(reloaded)
                await sees((await reloaded.subscribe(ids[0]))["video"], BLUE)
                await reloaded.publish()
                while [m["participant"] for m in host.received if m["type"] == "sfu_feed"] != [ids[1], ids[1]]:
                    await host.expect("sfu_feed", timeout=10)  # its new feed, the old page's gone
                await sees((await peers[0].subscribe(ids[1]))["video"], GREEN)
        finally:
            await asyncio.gather(*(peer.close() for peer in peers), return_exceptions=True)


def test_a_page_back_on_a_new_socket_keeps_its_connections_to_janus_and_a_reloaded_one_replaces_them(
        janus: JanusServer, tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET,
                                      reconnect_grace=60)).start()
    try:
        run(same_page_on_a_new_socket(server))
    finally:
        server.stop()


async def socket_down_through_a_restart(server: LiveServer, janus: JanusServer) -> None:
    """The patient's socket is down while Janus stops, and back while it is still down: told ``lost``; down again
    while Janus comes back: told ``back`` on its return, publishes again, and the clinician sees the patient."""
    async with clinician_and_patient(server) as (host, patient, patient_token, ids):
        peers = [GroupPeer(host, BLUE), GroupPeer(patient, ORANGE)]
        try:
            for peer in peers:
                await peer.publish()
            await peers[0].wait_for_feeds({ids[1]})
            key = patient.key
            await patient.close()
            janus.stop()
            assert (await host.expect("sfu_server", timeout=30))["state"] == "lost"
            async with rejoined(server, patient_token, key) as again:
                assert (await again.expect("sfu_server"))["state"] == "lost"  # it missed that on the old socket
                key = again.key or key
            janus.start()
            assert (await host.expect("sfu_server", timeout=30))["state"] == "back"
            async with rejoined(server, patient_token, key) as back:
                assert (await back.expect("sfu_server"))["state"] == "back"  # a new room: publish again
                peers.append(GroupPeer(back, ORANGE))
                await peers[-1].publish()
                peers.append(peers[0])
                peers[0] = GroupPeer(host, BLUE)  # the clinician's page, told "back" on its socket, does the same
                await peers[0].publish()
                await peers[0].wait_for_feeds({ids[1]})
                await sees((await peers[0].subscribe(ids[1]))["video"], ORANGE)
        finally:
            await asyncio.gather(*(peer.close() for peer in peers), return_exceptions=True)


def test_a_page_whose_socket_was_down_when_janus_came_back_is_told_on_its_return(tmp_path: Path) -> None:
    janus = JanusServer(tmp_path / "janus-server")
    janus.start()
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET,
                                      reconnect_grace=60)).start()
    try:
        run(socket_down_through_a_restart(server, janus))
    finally:
        server.stop()
        janus.stop()


async def janus_hangs(server: LiveServer, janus: JanusServer) -> None:
    """Janus stops answering but keeps its port open (stopped with SIGSTOP). Stopped for a second (as a very slow
    answer would be), the call goes on untold; stopped for good, the call is told within seconds (about 2 s: not
    after the long poll's 40 s), and is back once Janus answers again."""
    async with clinician_and_patient(server) as (host, patient, _, _ids):
        peer = GroupPeer(host, BLUE)
        try:
            await peer.publish()
            assert janus.process is not None
            janus.process.send_signal(signal.SIGSTOP)
            await asyncio.sleep(1)
            janus.process.send_signal(signal.SIGCONT)
            await asyncio.sleep(4)  # past the silence that would count as a hang
            await patient.sync()
            assert "sfu_server" not in patient.types, patient.types
            janus.process.send_signal(signal.SIGSTOP)
            try:
                # within seconds (generous: a loaded machine; about 2 s on a quiet one, bench/sfu_recovery.py --hang)
                assert (await patient.expect("sfu_server", timeout=15))["state"] == "lost"
            finally:
                janus.process.send_signal(signal.SIGCONT)
            assert (await patient.expect("sfu_server", timeout=30))["state"] == "back"
        finally:
            await peer.close()


def test_a_janus_that_hangs_is_noticed_within_seconds(tmp_path: Path) -> None:
    janus = JanusServer(tmp_path / "janus-server")
    janus.start()
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET)).start()
    try:
        run(janus_hangs(server, janus))
    finally:
        server.stop()
        janus.stop()


async def begun_while_janus_is_down(server: LiveServer, janus: JanusServer) -> None:
    """Janus goes down after the group consultation was booked and before it begins, so the clinician's first
    ``sfu_publish`` finds no session to lose: refused, and the call told ``lost``; Janus starts again: the call is
    told ``back``, and both publish again and see each other."""
    janus.start()
    patient_token, _ = _book_group(server)  # while Janus answers: a group booking asks it first
    janus.stop()
    async with await WsClient.staff(server, staff_login(server)) as host, \
            await WsClient.guest(server, patient_token) as patient:
        ids = [(await socket.hello())["id"] for socket in (host, patient)]
        await admit(host, patient)
        await host.send({"type": "sfu_publish", "page": PAGE, "sdp": "v=0"})
        await host.expect_error("media_server_unavailable")
        for socket in (host, patient):
            assert (await socket.expect("sfu_server", timeout=30))["state"] == "lost"
        janus.start()
        for socket in (host, patient):
            assert (await socket.expect("sfu_server", timeout=30))["state"] == "back"
        peers = [GroupPeer(host, BLUE), GroupPeer(patient, ORANGE)]
        try:
            for peer in peers:
                await peer.publish()
            await peers[0].wait_for_feeds({ids[1]})
            await sees((await peers[0].subscribe(ids[1]))["video"], ORANGE)
        finally:
            await asyncio.gather(*(peer.close() for peer in peers), return_exceptions=True)


def test_a_group_call_begun_while_janus_is_down_is_carried_over_once_it_is_back(tmp_path: Path) -> None:
    janus = JanusServer(tmp_path / "janus-server")
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET)).start()
    try:
        run(begun_while_janus_is_down(server, janus))
    finally:
        server.stop()
        janus.stop()
