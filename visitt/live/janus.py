"""A small client for Janus's documented HTTP API and its VideoRoom plugin.

Only Visitt talks to Janus (``VISITT_JANUS_URL``, every request carrying
``VISITT_JANUS_API_SECRET``): browsers reach a room through Visitt's signaling, which relays what an
admitted participant asks for (``docs/meetings.md`` says why). One :class:`Janus` is one Janus
session: a keepalive every :data:`KEEPALIVE` seconds, and one long poll that hands each event to the
request that waits for it (by transaction) or to its handle's queue. A session Janus no longer knows
(it restarted: 458), a poll failing for :data:`LOST_AFTER` seconds, or :data:`SILENCE` seconds in which Janus
answered nothing at all (a Janus that accepts connections and hangs: the long poll alone would wait out its
40 s) sets :attr:`Janus.lost`: whoever holds it (:class:`visitt.live.sfu.Sfu`) opens a new one.
:class:`VideoRoomAdmin` runs the synchronous VideoRoom requests (create, allowed tokens, kick, destroy) on a
handle of its own.

Janus's replies are turned into typed errors here, at the edge: :class:`JanusError` (Janus said
no, with its code) and :class:`visitt.errors.MediaServerUnavailable` (Janus cannot be reached).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from visitt.errors import MediaServerUnavailable
from visitt.live.janus_config import admin_key

log = logging.getLogger(__name__)

# Seconds between keepalives. Janus ends a session after 60 s without a request (session_timeout); they come this
# often to tell a Janus that hangs within SILENCE. One costs Janus a few microseconds, and one unanswered costs
# nothing (the next one keeps the session), so each goes without waiting for the one before.
KEEPALIVE = 0.5
# Seconds of Visitt's own running time in which Janus answered nothing (no keepalive, request or poll), keepalives
# waiting, after which the session counts as lost (Janus hangs). A false "lost" costs every group call a new
# session and its pages a new connection each, so one slow answer never decides: the next keepalives are answered
# meanwhile. And a pause of Visitt's own (a loaded machine) counts for at most KEEPALIVE a step: it is not Janus's.
SILENCE = 2.0
KEEPALIVES_WAITING = 4  # keepalives without an answer yet at most (Janus hanging: more would say nothing new)
POLL_EVENTS = 10  # events one long poll may bring back at most (Janus's maxev)
LOST_AFTER = 2.0  # seconds of failing polls after which the session counts as lost (Janus gone or hanging)
POLL_RETRY = 0.5  # seconds between polls that fail
NO_SUCH_SESSION = 458  # JANUS_ERROR_SESSION_NOT_FOUND: Janus restarted, or ended our session
VIDEOROOM = "janus.plugin.videoroom"
ROOM_NOT_FOUND = 426  # JANUS_VIDEOROOM_ERROR_NO_SUCH_ROOM
ROOM_EXISTS = 427  # JANUS_VIDEOROOM_ERROR_ROOM_EXISTS


class JanusError(Exception):
    """Janus, or one of its plugins, refused a request; ``code`` is Janus's own number."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"Janus error {code}: {reason}")
        self.code = code
        self.reason = reason


def room_secret(api_secret: str, room: int) -> str:
    """The per-room secret: different for every room (every meeting has a room of its own), derived
    so that a restarted Visitt can still end a room it created."""
    return hmac.new(api_secret.encode(), f"visitt janus room {room}".encode(), hashlib.sha256).hexdigest()


@dataclass
class Handle:
    """One handle attached to a plugin: its id, and the events that answer no request (a join's
    publishers, ``webrtcup``, ``hangup``, being kicked)."""

    janus: "Janus"
    id: int
    events: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)

    async def message(self, body: dict[str, Any], jsep: dict[str, Any] | None = None,
                      timeout: float = 10.0) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Send a plugin request; its answer (``plugindata.data``) and JSEP, whether Janus answers at
        once or acknowledges and answers by event."""
        request: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        return await self.janus._plugin_request(self, request, timeout)

    async def trickle(self, candidate: dict[str, Any] | None) -> None:
        """An ICE candidate for this handle's PeerConnection; ``None``: gathering is complete."""
        await self.janus._post(f"/{self.janus.session}/{self.id}",
                               {"janus": "trickle", "candidate": candidate or {"completed": True}})

    async def detach(self) -> None:
        self.janus.handles.pop(self.id, None)
        await self.janus._post(f"/{self.janus.session}/{self.id}", {"janus": "detach"})


class Janus:
    """One Janus session over HTTP. ``async with Janus(url, secret) as janus:`` opens it."""

    def __init__(self, url: str, api_secret: str, *, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.api_secret = api_secret
        self.timeout = timeout
        self.session = 0
        self.handles: dict[int, Handle] = {}
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, read=timeout + 35))
        self._tasks: list[asyncio.Task[None]] = []
        self._silent = 0.0  # seconds (of Visitt's own running time) since Janus last answered anything
        self.lost = asyncio.Event()  # set once Janus no longer has this session, or has not answered for a while

    async def __aenter__(self) -> "Janus":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Create the session and start its keepalive and its long poll."""
        try:
            reply = await self._post("", {"janus": "create"})
        except BaseException:
            await self._client.aclose()
            raise
        self.session = int(reply["data"]["id"])
        self._tasks = [asyncio.create_task(self._keepalive()), asyncio.create_task(self._poll())]

    async def close(self) -> None:
        """Stop the keepalive and the poll, and end the session (Janus then detaches its handles)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.session:
            try:
                await self._post(f"/{self.session}", {"janus": "destroy"})
            except (JanusError, MediaServerUnavailable):
                pass  # gone already: Janus ends sessions of its own accord after session_timeout
            self.session = 0
        await self._client.aclose()

    async def attach(self, plugin: str = VIDEOROOM) -> Handle:
        reply = await self._post(f"/{self.session}", {"janus": "attach", "plugin": plugin})
        handle = Handle(self, int(reply["data"]["id"]))
        self.handles[handle.id] = handle
        return handle

    async def _post(self, path: str, request: dict[str, Any]) -> dict[str, Any]:
        transaction = request.setdefault("transaction", secrets.token_hex(8))
        request["apisecret"] = self.api_secret
        if self._client.is_closed:  # a request made on a session given up meanwhile
            raise MediaServerUnavailable()
        try:
            response = await self._client.post(self.url + path, json=request)
            reply: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as error:
            log.warning("janus unreachable: %s", type(error).__name__)
            raise MediaServerUnavailable() from None
        self._silent = 0.0  # Janus answers
        if reply.get("janus") == "error":
            self._waiting.pop(transaction, None)
            code = int(reply["error"]["code"])
            if code == NO_SUCH_SESSION:
                self.lost.set()
            raise JanusError(code, str(reply["error"]["reason"]))
        return reply

    async def _plugin_request(self, handle: Handle, request: dict[str, Any],
                              timeout: float) -> tuple[dict[str, Any], dict[str, Any] | None]:
        transaction = request["transaction"] = secrets.token_hex(8)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = answer  # before the POST: the event may arrive before its reply
        try:
            reply = await self._post(f"/{self.session}/{handle.id}", request)
            if reply.get("janus") != "ack":
                answer.set_result(reply)
            event = await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            raise MediaServerUnavailable() from None
        finally:
            self._waiting.pop(transaction, None)
        data: dict[str, Any] = event.get("plugindata", {}).get("data", {})
        if "error_code" in data:
            raise JanusError(int(data["error_code"]), str(data.get("error", "")))
        return data, event.get("jsep")

    async def _keepalive(self) -> None:
        """Keep the session, and notice a Janus that no longer answers: a keepalive every :data:`KEEPALIVE` seconds,
        each on its own (one slow answer holds up none of the next), and :attr:`lost` once Janus has answered
        nothing for :data:`SILENCE` seconds (:attr:`_silent`; any answer, to a keepalive, a request or the poll,
        starts it again)."""
        loop = asyncio.get_running_loop()
        waiting: set[asyncio.Task[None]] = set()
        before = loop.time()
        try:
            while not self.lost.is_set():
                await asyncio.sleep(KEEPALIVE)
                now = loop.time()
                # a keepalive's worth at most: a pause of Visitt's own (a loaded machine) is not Janus's silence
                self._silent += min(now - before, KEEPALIVE)
                before = now
                if self._silent >= SILENCE:
                    log.warning("janus session lost: no answer for %.1f s", self._silent)
                    self.lost.set()
                    return
                if len(waiting) < KEEPALIVES_WAITING:
                    keepalive = loop.create_task(self._ping())
                    waiting.add(keepalive)
                    keepalive.add_done_callback(waiting.discard)
        finally:
            for keepalive in waiting:
                keepalive.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)

    async def _ping(self) -> None:
        """One keepalive. Its answer, or none, counts in :attr:`_silent` (:meth:`_post`)."""
        try:
            await self._post(f"/{self.session}", {"janus": "keepalive"})
        except JanusError:
            log.warning("janus keepalive refused")  # Janus answers; a lost session: _post has said so
        except MediaServerUnavailable:
            pass  # unreachable: the silence goes on (_keepalive)

    async def _poll(self) -> None:
        """The long poll: each event to the request waiting for its transaction, or to its handle. It ends
        when the session is lost (:attr:`lost`)."""
        failing_since: float | None = None
        loop = asyncio.get_running_loop()
        while not self.lost.is_set():
            try:
                response = await self._client.get(f"{self.url}/{self.session}",
                                                  params={"maxev": POLL_EVENTS, "apisecret": self.api_secret})
                events = response.json()
            except (httpx.HTTPError, ValueError) as error:
                log.warning("janus poll failed: %s", type(error).__name__)
                failing_since = loop.time() if failing_since is None else failing_since
                if loop.time() - failing_since >= LOST_AFTER:
                    log.warning("janus session lost: no answer for %.0f s", LOST_AFTER)
                    self.lost.set()
                    return
                await asyncio.sleep(POLL_RETRY)
                continue
            failing_since = None
            self._silent = 0.0  # Janus answers
            for event in events if isinstance(events, list) else [events]:
                if event.get("janus") == "error" and event.get("error", {}).get("code") == NO_SUCH_SESSION:
                    log.warning("janus session lost: Janus no longer knows it")
                    self.lost.set()
                    return
                self._deliver(event)

    def _deliver(self, event: dict[str, Any]) -> None:
        if event.get("janus") == "keepalive":
            return
        waiting = self._waiting.get(str(event.get("transaction", "")))
        if waiting is not None and not waiting.done() and event.get("janus") in ("event", "error"):
            waiting.set_result(event)
            return
        handle = self.handles.get(int(event.get("sender", 0)))
        if handle is not None:
            handle.events.put_nowait(event)


class VideoRoomAdmin:
    """Visitt's own VideoRoom handle: rooms created and destroyed, tokens allowed, participants kicked.
    Every request carries the room's secret (:func:`room_secret`)."""

    def __init__(self, janus: Janus, handle: Handle) -> None:
        self.janus = janus
        self.handle = handle

    @classmethod
    async def attach(cls, janus: Janus) -> "VideoRoomAdmin":
        return cls(janus, await janus.attach())

    def secret(self, room: int) -> str:
        return room_secret(self.janus.api_secret, room)

    # What Janus lets one sender send (its REMB): the three simulcast layers' caps together (sfu.js LAYERS:
    # 900 + 300 + 100 kbit/s). At 512 kbit/s, as before, the top layer got 60-110 kbit/s of it and Janus fell
    # back to the middle one. A sender's own estimate of its uplink still lowers what it sends.
    SENDER_CAP = 1_300_000

    async def create(self, room: int, *, publishers: int, description: str = "Visitt",
                     record_dir: str | None = None) -> None:
        """A room for ``publishers`` senders, VP8 with simulcast, Opus, open only with an allowed token.
        ``record_dir``: Janus records every stream there (the end-to-end encryption test only)."""
        body: dict[str, Any] = {
            "request": "create", "room": room, "admin_key": admin_key(self.janus.api_secret),
            "description": description, "secret": self.secret(room), "is_private": True,
            "publishers": publishers, "videocodec": "vp8", "audiocodec": "opus", "bitrate": self.SENDER_CAP,
            "fir_freq": 10, "audiolevel_event": True, "audio_active_packets": 50, "audio_level_average": 40,
            "notify_joining": True, "require_pvtid": True, "allowed": [], "permanent": False,
        }
        if record_dir is not None:
            body.update(record=True, rec_dir=record_dir)
        await self.handle.message(body)

    async def allow(self, room: int, tokens: list[str]) -> None:
        """Let these tokens join (each admitted participant's own)."""
        await self.handle.message({"request": "allowed", "room": room, "secret": self.secret(room),
                                   "action": "add", "allowed": tokens})

    async def disallow(self, room: int, tokens: list[str]) -> None:
        await self.handle.message({"request": "allowed", "room": room, "secret": self.secret(room),
                                   "action": "remove", "allowed": tokens})

    async def kick(self, room: int, participant: int) -> None:
        await self.handle.message({"request": "kick", "room": room, "secret": self.secret(room),
                                   "id": participant})

    async def participants(self, room: int) -> list[dict[str, Any]]:
        data, _ = await self.handle.message({"request": "listparticipants", "room": room})
        return list(data.get("participants", []))

    async def exists(self, room: int) -> bool:
        data, _ = await self.handle.message({"request": "exists", "room": room})
        return bool(data.get("exists"))

    async def destroy(self, room: int) -> None:
        """End the room; everyone in it is hung up. A room already gone is no error."""
        try:
            await self.handle.message({"request": "destroy", "room": room, "secret": self.secret(room)})
        except JanusError as error:
            if error.code != ROOM_NOT_FOUND:
                raise
