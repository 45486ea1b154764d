"""The test room: ``/test`` checks camera, microphone and speaker, then makes a real round trip to a
server-side aiortc peer that sends the visitor's own picture and sound straight back. No booking is
needed and nothing is recorded or stored. See ``docs/test-room.md``.

aiortc is an optional extra (``pip install visitt[testroom]``); without it the page still checks the
devices and says plainly that the round trip is not available.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import secrets
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from visitt.web import client_text
from visitt.live import turn
from visitt.errors import RateLimited, ValidationFailed, VisittError
from visitt.web.i18n import N_, translations
from visitt.limiter import Limiter
from visitt.web.pages import language, render
from visitt.settings import Settings

log = logging.getLogger("visitt.test_room")
router = APIRouter()
KINDS = {"audio", "video"}


# What test_room.js shows (see client_text.py): the device messages as on the patient page, then the round
# trip's figures and verdict.
STRINGS = {
    **{key: client_text.PATIENT[key] for key in ("denied_permission", "no_device", "device_busy", "device_error")},
    "speaker_ok": N_("Good: your speaker or headphones work."),
    "speaker_advice": N_("Turn up the volume, check that the sound is not muted, or try headphones."),
    "need_devices": N_("Allow the camera and microphone first."),
    "connecting": N_("Connecting…"),
    "measuring": N_("Connected. Measuring for a few seconds…"),
    "direct": N_("direct"),
    "relayed": N_("relayed through a server"),
    "ready": N_("Your equipment is ready"),
    "not_ready": N_("Your equipment is not ready yet"),
    "advice_no_connection": N_("No connection could be made. The network may block video calls: try another "
                               "network, for example mobile data instead of Wi-Fi, or call the clinic."),
    "advice_no_picture": N_("Your picture did not come back. Check that no other program uses the camera, or try "
                            "another network."),
    "advice_no_sound": N_("Your sound did not come back. Check that the microphone is allowed and not muted."),
    "advice_loss": N_("The connection loses much of the data. Move closer to the Wi-Fi router or try mobile data."),
    "advice_slow": N_("The connection is slow: the picture may be poor. Move closer to the Wi-Fi router or try "
                      "mobile data."),
    "busy": N_("The test room is busy. Try again in a minute."),
    "too_many": N_("Too many test calls. Wait a few minutes and try again."),
    "failed": N_("The round trip could not be started. Reload the page and try again."),
    # on the training's test call (/test?training=1, for a signed-in member of staff)
    "training_recorded": N_("Your test call is recorded in your training."),
    "training_not_recorded": N_("Your test call could not be recorded. Try the round trip again."),
}


class NotAvailable(VisittError):
    status = 503
    code = "not_available"


def available() -> bool:
    """Whether aiortc is installed (checked without importing it: it is heavy)."""
    return importlib.util.find_spec("aiortc") is not None


class Offer(BaseModel):
    type: Literal["offer"]
    sdp: str = Field(min_length=1, max_length=20_000)


class Answer(BaseModel):
    id: str
    type: Literal["answer"]
    sdp: str
    seconds: float


class Ice(BaseModel):
    """An ``RTCConfiguration`` for one round trip: STUN, and TURN with a credential of a few minutes."""
    iceServers: list[dict[str, Any]]  # noqa: N815 - the browser's own names
    iceTransportPolicy: str  # noqa: N815


class EchoRoom:
    """The live echo sessions: at most ``max_sessions`` at once (``VISITT_TEST_ROOM_PLACES``), each
    closed after ``seconds``; at most ``VISITT_TEST_ROOM_PLACES_PER_ADDRESS`` of them held by one
    client address, and a place whose offer brings no media within ``media_seconds`` is freed. The
    limiter counts the round trips and TURN credentials one address may get (``test_offer``,
    ``test_ice``); each credential is valid for a round trip and two minutes more."""

    def __init__(self, settings: Settings, limiter: Limiter, *, seconds: float = 60.0) -> None:
        self.settings, self.limiter = settings, limiter
        self.stun_urls = list(settings.stun_urls)
        self.max_sessions = settings.test_room_places
        self.media_seconds = settings.test_room_media_seconds
        self.seconds = seconds
        self.sessions: dict[str, Any] = {}  # id -> aiortc RTCPeerConnection
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._addresses: dict[str, str] = {}  # id -> the client address holding the place

    def _count(self, what: str, address: str) -> None:
        self.limiter.count(what, address, message=N_("Too many test calls. Wait a few minutes and try again."),
                           code="too_many_tests")

    def ice(self, address: str) -> Ice:
        """ICE servers for one round trip. The page needs no booking, so its TURN credential is handed
        out here, counted like the round trips, and never with the page itself."""
        if not available():
            raise NotAvailable(N_("The round trip is not available on this server."))
        self._count("test_ice", address)
        short = self.settings.but(turn_ttl=int(self.seconds) + 120)
        return Ice(iceServers=turn.ice_servers(short, f"test-{secrets.token_urlsafe(8)}"),
                   iceTransportPolicy=self.settings.ice_transport_policy)

    async def start(self, offer: Offer, address: str) -> Answer:
        """Answer ``offer`` with a peer that returns every track it receives."""
        if not available():
            raise NotAvailable(N_("The round trip is not available on this server."))
        self._count("test_offer", address)
        if len(self.sessions) >= self.max_sessions:
            raise RateLimited(N_("The test room is busy. Try again in a minute."), code="test_room_busy")
        from aiortc import (
            RTCConfiguration,
            RTCIceServer,
            RTCPeerConnection,
            RTCSessionDescription,
        )
        from aiortc.sdp import SessionDescription

        try:
            kinds = {media.kind for media in SessionDescription.parse(offer.sdp).media}
        except Exception:  # noqa: BLE001 - any parse failure is the caller's bad SDP
            kinds = set()
        if not kinds & KINDS:
            raise ValidationFailed(N_("The offer carries no audio or video."), code="bad_sdp")
        if not self.limiter.slots.take("test_room_address", address):  # given back by stop()
            raise RateLimited(N_("Too many test calls. Wait a few minutes and try again."), code="too_many_tests")
        # STUN only: the server needs its public address; a visitor behind a strict firewall relays
        # through TURN from their own side, with the credential of :meth:`ice`.
        servers = [RTCIceServer(urls=self.stun_urls)] if self.stun_urls else []
        pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        session_id = secrets.token_urlsafe(16)
        self.sessions[session_id] = pc  # the places are taken before the first await
        self._addresses[session_id] = address

        @pc.on("track")
        def echo(track: Any) -> None:
            pc.addTrack(track)  # the visitor's own track, straight back; never stored

        @pc.on("connectionstatechange")
        async def changed() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.stop(session_id)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as error:  # noqa: BLE001 - aiortc rejects bad SDP with assorted errors
            await self.stop(session_id)
            log.info("test room offer refused: %s", type(error).__name__)
            raise ValidationFailed(N_("The offer could not be used."), code="bad_sdp") from None
        self._timers[session_id] = asyncio.create_task(self._expire(session_id))
        description = pc.localDescription
        return Answer(id=session_id, type="answer", sdp=description.sdp, seconds=self.seconds)

    async def _expire(self, session_id: str) -> None:
        """Close the session at its time limit, or as soon as ``media_seconds`` have passed without a
        packet of media from the visitor: an offer that never connects does not hold a place."""
        if self.media_seconds < self.seconds:
            await asyncio.sleep(self.media_seconds)
            pc = self.sessions.get(session_id)
            if pc is None:
                return
            stats = await pc.getStats()
            received = sum(getattr(report, "packetsReceived", 0) for report in stats.values()
                           if report.type == "inbound-rtp")
            if not received:
                log.info("test room session freed: no media within %.0f seconds", self.media_seconds)
                await self.stop(session_id)
                return
            await asyncio.sleep(self.seconds - self.media_seconds)
        else:
            await asyncio.sleep(self.seconds)
        await self.stop(session_id)

    async def completed(self, session_id: str) -> bool:
        """Whether the round trip ``session_id``, still open, carried media both ways: packets received
        from the visitor and sent back to them, by the echo peer's own statistics (the training's test
        call, ``visitt/web/training.py``, counts only such a round trip)."""
        pc = self.sessions.get(session_id)
        if pc is None:
            return False
        stats = (await pc.getStats()).values()
        received = sum(getattr(report, "packetsReceived", 0) for report in stats if report.type == "inbound-rtp")
        sent = sum(getattr(report, "packetsSent", 0) for report in stats if report.type == "outbound-rtp")
        return received > 0 and sent > 0

    async def stop(self, session_id: str) -> None:
        pc = self.sessions.pop(session_id, None)
        address = self._addresses.pop(session_id, None)
        if address is not None:
            self.limiter.slots.give_back("test_room_address", address)
        timer = self._timers.pop(session_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        if pc is not None:
            await pc.close()

    async def close(self) -> None:
        """Close every session (at shutdown)."""
        await asyncio.gather(*(self.stop(session_id) for session_id in list(self.sessions)), return_exceptions=True)


@router.get("/test", include_in_schema=False)
def page(request: Request) -> Response:
    gettext = translations(language(request)).gettext
    return render(request, "test_room.html", strings=client_text.translate(STRINGS, gettext), available=available(),
                  training=request.query_params.get("training") == "1")


@router.post("/api/v1/test-room/ice", response_model=Ice, tags=["test room"])
def ice(request: Request) -> Ice:
    """The ICE servers for one round trip, with a TURN credential valid for a few minutes."""
    room: EchoRoom = request.app.state.test_room
    return room.ice(request.client.host if request.client else "")


@router.post("/api/v1/test-room/offer", response_model=Answer, tags=["test room"])
async def offer(body: Offer, request: Request) -> Answer:
    """Start a round trip: the answer's peer sends back every track of the offer until ``seconds``."""
    room: EchoRoom = request.app.state.test_room
    return await room.start(body, request.client.host if request.client else "")


@router.delete("/api/v1/test-room/{session_id}", status_code=204, tags=["test room"])
async def finish(session_id: str, request: Request) -> Response:
    """End a round trip early (the page does when it has measured enough)."""
    await request.app.state.test_room.stop(session_id)
    return Response(status_code=204)
