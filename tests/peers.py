"""Test helpers that act like Visitt's users: book, sign in, talk the signaling protocol, make a call.

``WsClient`` is one participant's signaling socket and keeps everything it received, so a test can
assert what did *not* arrive. ``CallPeer`` is the media side of a participant, built on aiortc and
negotiating the way ``static/js/call.js`` does: the newcomer offers to everyone already in the call,
the others answer. aiortc gathers every candidate before ``setLocalDescription`` returns, so the
SDP carries them and nothing is trickled.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import fractions
import json
import math
import time
from collections.abc import Coroutine
from typing import Any, Self, TypeVar

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack, VideoStreamTrack
from aiortc.sdp import candidate_from_sdp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from visitt import demo
from visitt.live.protocol import VERSION
from visitt.testing import InProcess, LiveServer

# How long a socket's opening handshake, an awaited message or track may take: every wait returns as soon as
# it is done; 5 s ran out at a load of 87 on two cores (a WebSocket handshake to a LiveServer).
TIMEOUT = 20.0
T = TypeVar("T")


def run(scenario: Coroutine[Any, Any, T]) -> T:
    """Run an async test scenario to the end on a fresh event loop in a thread of its own.

    Not ``asyncio.run`` in the test's thread: once a browser test has used the session's Playwright
    (sync API), an event loop stays running in the main thread and ``asyncio.run`` refuses to start.
    """
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="scenario") as pool:
        return pool.submit(asyncio.run, scenario).result()


# --- HTTP: booking and signing in -------------------------------------------------------------


def book(server: LiveServer | InProcess, patient_name: str = "Kari Nordmann", *, days: int = 2) -> tuple[str, str]:
    """Book an appointment for the first demo clinician over the API; returns ``(join_url, token)``."""
    starts_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).replace(microsecond=0)
    body = {"patient_name": patient_name, "patient_phone": "412 34 567", "starts_at": starts_at.isoformat(),
            "duration_minutes": 30}
    response = server.post(f"{server.url}/api/v1/appointments", json=body,
                           headers={"Authorization": f"Bearer {server.token}"})
    assert response.status_code == 201, response.text
    join_url: str = response.json()["join_url"]
    return join_url, join_url.rsplit("/v/", 1)[1]


def staff_login(server: LiveServer | InProcess, email: str = demo.PEOPLE[0][0], password: str = demo.PASSWORD) -> str:
    """Sign in through the login form, as a browser would; returns the ``visitt_session`` cookie."""
    with server.client() as http:
        form = http.get("/staff/login")
        assert form.status_code == 200
        csrf = http.cookies["visitt_csrf"]
        response = http.post("/staff/login", data={"email": email, "password": password, "csrf": csrf})
        assert response.status_code == 303, response.text
        return response.cookies["visitt_session"]


# --- the signaling socket ---------------------------------------------------------------------


def ws_url(server: LiveServer, path: str) -> str:
    return "ws" + server.url.removeprefix("http") + path


class WsClient:
    """One participant's signaling WebSocket, recording every message the server sent it.

    Server pings are answered with a pong, as the browser does. :meth:`expect` hands out each
    received message at most once, so two ``expect("error")`` calls return two different errors.
    """

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.received: list[dict[str, Any]] = []
        self._taken: set[int] = set()
        self._arrived = asyncio.Condition()
        self.closed = False
        self.id = ""  # ours, as the server's welcome names it
        self.key: str | None = None  # the place key the server gave our knock (``waiting``, ``admitted``)
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, server: LiveServer, path: str, *, cookie: str | None = None,
                   origin: str | None = None) -> WsClient:
        headers = {"Cookie": f"visitt_session={cookie}"} if cookie else None
        socket = await connect(ws_url(server, path), additional_headers=headers, origin=origin,  # type: ignore[arg-type]
                               open_timeout=TIMEOUT)
        return cls(socket)

    @classmethod
    async def guest(cls, server: LiveServer, token: str, *, origin: str | None = None) -> WsClient:
        return await cls.open(server, f"/ws/v/{token}", origin=origin)

    @classmethod
    async def staff(cls, server: LiveServer, cookie: str, *, origin: str | None = None) -> WsClient:
        return await cls.open(server, "/ws/staff", cookie=cookie, origin=origin)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _read(self) -> None:
        try:
            async for text in self.socket:
                message = json.loads(text)
                if message.get("type") == "ping":
                    await self.socket.send(json.dumps({"type": "pong"}))
                if message.get("key"):
                    self.key = message["key"]
                async with self._arrived:
                    self.received.append(message)
                    self._arrived.notify_all()
        except ConnectionClosed:
            pass
        finally:
            async with self._arrived:
                self.closed = True
                self._arrived.notify_all()

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_raw(json.dumps(message))

    async def send_raw(self, data: str | bytes) -> None:
        """Send exactly ``data``: a text frame for ``str``, a binary frame for ``bytes``."""
        await self.socket.send(data)

    def _first(self, type_: str) -> int | None:
        for index, message in enumerate(self.received):
            if index not in self._taken and message.get("type") == type_:
                return index
        return None

    async def expect(self, type_: str, timeout: float | None = TIMEOUT) -> dict[str, Any]:
        """The next message of ``type_`` not handed out before, waiting up to ``timeout`` seconds."""
        async with self._arrived:
            try:
                await asyncio.wait_for(
                    self._arrived.wait_for(lambda: self._first(type_) is not None or self.closed), timeout)
            except TimeoutError:
                raise AssertionError(f"no {type_!r} within {timeout}s; received {self.types}") from None
            index = self._first(type_)
            if index is None:
                raise AssertionError(f"socket closed before a {type_!r}; received {self.types}")
            self._taken.add(index)
            return self.received[index]

    async def hello(self) -> dict[str, Any]:
        await self.send({"type": "hello", "version": VERSION})
        welcome = await self.expect("welcome")
        self.id = welcome["id"]
        return welcome

    async def sync(self) -> None:
        """Ping and wait for the pong: whatever the server queued for us before that has arrived."""
        await self.send({"type": "ping"})
        await self.expect("pong")

    async def expect_error(self, code: str) -> dict[str, Any]:
        error = await self.expect("error")
        assert error["code"] == code, error
        assert error["message"]
        return error

    @property
    def types(self) -> list[str]:
        return [message["type"] for message in self.received]

    async def close(self) -> None:
        await self.socket.close()
        await self._reader


async def in_call(server: LiveServer, cookie: str, token: str) -> tuple[WsClient, WsClient, str]:
    """The clinician (signed in as ``cookie``) and the guest of ``token`` in a call: hello, knock,
    admit. Returns both sockets and the room's id; the caller closes them."""
    host = await WsClient.staff(server, cookie)
    guest = await WsClient.guest(server, token)
    await host.hello()
    await guest.hello()
    await guest.send({"type": "knock", "name": "Kari Nordmann"})
    room = (await host.expect("knock"))["room"]
    await host.send({"type": "admit", "room": room, "participant": guest.id})
    await guest.expect("admitted")
    return host, guest, room


# --- the media side ---------------------------------------------------------------------------


class ToneTrack(MediaStreamTrack):
    """A microphone that plays a steady sine tone: 20 ms frames of mono s16 at 48 kHz, in real time."""

    kind = "audio"
    RATE = 48000
    SAMPLES = 960

    def __init__(self, hertz: float = 440.0) -> None:
        super().__init__()
        self.hertz = hertz
        self.pts = 0
        self.start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        else:
            self.pts += self.SAMPLES
            await asyncio.sleep(self.start + self.pts / self.RATE - time.monotonic())
        t = (np.arange(self.SAMPLES) + self.pts) / self.RATE
        wave = (np.sin(2 * math.pi * self.hertz * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(wave, format="s16", layout="mono")
        frame.sample_rate = self.RATE
        frame.pts = self.pts
        frame.time_base = fractions.Fraction(1, self.RATE)
        return frame


class ColourTrack(VideoStreamTrack):
    """A camera that shows one flat colour at 30 frames a second."""

    def __init__(self, rgb: tuple[int, int, int], width: int = 320, height: int = 240) -> None:
        super().__init__()
        self.image = np.empty((height, width, 3), dtype=np.uint8)
        self.image[:, :] = rgb

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame.from_ndarray(self.image, format="rgb24")
        frame.pts = pts
        frame.time_base = time_base
        return frame


class CallPeer:
    """A participant's media: one RTCPeerConnection per other participant, closed by :meth:`close`."""

    def __init__(self, signaling: WsClient, *, colour: tuple[int, int, int], hertz: float = 440.0) -> None:
        self.signaling = signaling
        self.local: list[MediaStreamTrack] = [ToneTrack(hertz), ColourTrack(colour)]
        self.relay = MediaRelay()  # each connection gets its own copy of the local tracks
        self.connections: dict[str, RTCPeerConnection] = {}
        self.remote: dict[str, dict[str, MediaStreamTrack]] = {}
        self.changed = asyncio.Event()
        self.failures: list[BaseException] = []
        self._listener = asyncio.create_task(self._listen())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _connection(self, peer_id: str) -> RTCPeerConnection:
        pc = self.connections.get(peer_id)
        if pc is not None:
            return pc
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # loopback only: no STUN round trips
        self.connections[peer_id] = pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.remote.setdefault(peer_id, {})[track.kind] = track
            self.changed.set()

        for track in self.local:
            pc.addTrack(self.relay.subscribe(track))
        return pc

    async def _send(self, peer_id: str, pc: RTCPeerConnection) -> None:
        description = pc.localDescription
        await self.signaling.send({"type": "signal", "to": peer_id,
                                   "description": {"type": description.type, "sdp": description.sdp}})

    async def connect(self, peer_id: str) -> None:
        """As the newcomer: offer to someone already in the call."""
        pc = self._connection(peer_id)
        await pc.setLocalDescription(await pc.createOffer())
        await self._send(peer_id, pc)

    async def join(self, admitted: dict[str, Any]) -> None:
        """Having been admitted: connect to everyone the server listed as already in the call."""
        for participant in admitted["participants"]:
            await self.connect(participant["id"])

    async def _listen(self) -> None:
        while True:
            message = await self.signaling.expect("signal", timeout=None)
            try:
                await self._on_signal(message)
            except Exception as error:  # noqa: BLE001 - surfaced by remote_track, not lost with the task
                self.failures.append(error)
                self.changed.set()

    async def _on_signal(self, message: dict[str, Any]) -> None:
        sender = message["from"]
        if description := message.get("description"):
            pc = self._connection(sender)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=description["sdp"], type=description["type"]))
            if description["type"] == "offer":
                await pc.setLocalDescription(await pc.createAnswer())
                await self._send(sender, pc)
        elif candidate := message.get("candidate"):
            parsed = candidate_from_sdp(candidate["candidate"].removeprefix("candidate:"))
            parsed.sdpMid, parsed.sdpMLineIndex = candidate.get("sdpMid"), candidate.get("sdpMLineIndex")
            await self._connection(sender).addIceCandidate(parsed)

    async def remote_track(self, peer_id: str, kind: str, timeout: float = TIMEOUT) -> MediaStreamTrack:
        """The ``kind`` track that ``peer_id`` sends us, once negotiation has produced it."""
        async with asyncio.timeout(timeout):
            while kind not in self.remote.get(peer_id, {}):
                assert not self.failures, self.failures
                self.changed.clear()
                await self.changed.wait()
        return self.remote[peer_id][kind]

    async def close(self) -> None:
        self._listener.cancel()
        try:
            await self._listener
        except (asyncio.CancelledError, AssertionError):
            pass
        # every connection is closed even if closing another one fails; the first failure is raised
        results = await asyncio.gather(*(pc.close() for pc in self.connections.values()), return_exceptions=True)
        for track in self.local:
            track.stop()
        for result in results:
            if isinstance(result, BaseException):
                raise result
