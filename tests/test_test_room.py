"""The test room's echo over real WebRTC: an aiortc client sends a synthetic camera and microphone to
the server's echo peer and decodes them coming back; the session cap, the per-address limit and bad
offers answer with the API's error shape."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from visitt.live import turn
from visitt.testing import LiveServer

from .conftest import make_settings
from .peers import TIMEOUT, ColourTrack, ToneTrack, run


class Visitor:
    """A browser's side of the round trip: sends a red picture and a tone, keeps what comes back."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.local: list[MediaStreamTrack] = [ToneTrack(), ColourTrack((255, 0, 0))]
        self.returned: dict[str, MediaStreamTrack] = {}
        for track in self.local:
            self.pc.addTrack(track)
        self.pc.on("track", lambda track: self.returned.__setitem__(track.kind, track))

    async def offer(self, server: LiveServer, *, address: str = "", connect: bool = True) -> httpx.Response:
        """Post the offer (from ``address``, as a trusted proxy would say) and, if ``connect``, take
        the answer and start sending; without, the offer brings no media at all."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with httpx.AsyncClient(base_url=server.url,
                                     headers={"X-Forwarded-For": address} if address else None) as http:
            response = await http.post("/api/v1/test-room/offer",
                                       json={"type": "offer", "sdp": self.pc.localDescription.sdp})
        if response.status_code == 200 and connect:
            answer = response.json()
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
        return response

    async def close(self) -> None:
        await self.pc.close()
        for track in self.local:
            track.stop()


def test_the_server_sends_the_visitors_picture_and_sound_back(server: LiveServer) -> None:
    async def scenario() -> None:
        visitor = Visitor()
        try:
            response = await visitor.offer(server)
            assert response.status_code == 200, response.text
            assert response.json()["seconds"] == 60
            assert set(visitor.returned) == {"audio", "video"}
            async with asyncio.timeout(10):
                frame = await visitor.returned["video"].recv()
                while frame.width != 320:  # the first frames may still be the encoder's warm-up size
                    frame = await visitor.returned["video"].recv()
                sound = await visitor.returned["audio"].recv()
            red, green, blue = frame.to_ndarray(format="rgb24")[120, 160]
            assert red > 200 and green < 60 and blue < 60  # our own red picture, not some other
            assert sound.samples > 0
            assert len(server.app.state.test_room.sessions) == 1
            async with httpx.AsyncClient(base_url=server.url) as http:
                done = await http.delete(f"/api/v1/test-room/{response.json()['id']}")
            assert done.status_code == 204
            assert server.app.state.test_room.sessions == {}
        finally:
            await visitor.close()

    run(scenario())


def test_sessions_beyond_the_cap_get_429_and_a_finished_one_frees_its_place(server: LiveServer) -> None:
    server.app.state.test_room.max_sessions = 1

    async def scenario() -> None:
        first, second = Visitor(), Visitor()
        try:
            response = await first.offer(server)
            assert response.status_code == 200, response.text
            refused = await second.offer(server)
            assert refused.status_code == 429
            assert refused.json()["error"]["code"] == "test_room_busy"
            assert refused.json()["error"]["message"]
            async with httpx.AsyncClient(base_url=server.url) as http:
                await http.delete(f"/api/v1/test-room/{response.json()['id']}")
            third = Visitor()
            try:
                assert (await third.offer(server)).status_code == 200
            finally:
                await third.close()
        finally:
            await first.close()
            await second.close()

    run(scenario())


def test_one_address_holds_at_most_two_places_and_others_still_get_in(server: LiveServer) -> None:
    async def scenario() -> None:
        visitors = [Visitor() for _ in range(4)]
        try:
            codes = [(await visitor.offer(server)).status_code for visitor in visitors[:3]]
            assert codes == [200, 200, 429]  # VISITT_TEST_ROOM_PLACES_PER_ADDRESS, though 10 places exist
            other = await visitors[3].offer(server, address="203.0.113.40")
            assert other.status_code == 200, other.text
        finally:
            for visitor in visitors:
                await visitor.close()

    run(scenario())


def test_a_place_whose_offer_brings_no_media_is_freed_within_seconds(tmp_path: Path) -> None:
    # 4 s: long enough that the two offers below are made before it runs out, also on a loaded machine
    live = LiveServer(make_settings(tmp_path, test_room_media_seconds=4.0)).start()

    async def scenario() -> None:
        silent, real, later = Visitor(), Visitor(), Visitor()
        try:
            assert (await silent.offer(live, connect=False)).status_code == 200
            assert (await real.offer(live)).status_code == 200
            assert (await later.offer(live)).status_code == 429  # this address's two places are taken ...
            async with asyncio.timeout(15):
                while len(live.app.state.test_room.sessions) > 1:
                    await asyncio.sleep(0.1)
            assert (await later.offer(live)).status_code == 200  # ... until the silent one is freed
            async with asyncio.timeout(5):  # the real visitor's picture keeps coming back meanwhile
                frame = await real.returned["video"].recv()
            assert frame.width > 0 and len(live.app.state.test_room.sessions) == 2
        finally:
            for visitor in (silent, real, later):
                await visitor.close()

    try:
        run(scenario())
    finally:
        live.stop()


def test_a_session_is_closed_at_its_time_limit(server: LiveServer) -> None:
    server.app.state.test_room.seconds = 0.5

    async def scenario() -> None:
        visitor = Visitor()
        try:
            assert (await visitor.offer(server)).status_code == 200
            async with asyncio.timeout(5):
                while server.app.state.test_room.sessions:
                    await asyncio.sleep(0.05)
        finally:
            await visitor.close()

    run(scenario())


def test_bad_offers_get_422_with_the_error_shape(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
        for body in ({"type": "offer", "sdp": "garbage"}, {"type": "offer", "sdp": "v=0\r\n"},
                     {"type": "answer", "sdp": "v=0\r\n"}, {"sdp": ""}):
            response = http.post("/api/v1/test-room/offer", json=body)
            assert response.status_code == 422, body
            error = response.json()["error"]
            assert error["code"] in ("bad_sdp", "validation_failed") and error["message"]
    assert server.app.state.test_room.sessions == {}


def test_one_address_may_start_only_so_many_round_trips(tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, test_calls_per_address=3)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
            codes = [http.post("/api/v1/test-room/offer", json={"type": "offer", "sdp": "garbage"}).status_code
                     for _ in range(5)]
            assert codes == [422, 422, 422, 429, 429]
            refused = http.post("/api/v1/test-room/offer", json={"type": "offer", "sdp": "x"})
            assert refused.json()["error"]["code"] == "too_many_tests"
            assert int(refused.headers["Retry-After"]) > 500  # the window is ten minutes
    finally:
        server.stop()


def test_the_page_renders_with_its_own_script(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/test?lang=en")
    assert response.status_code == 200
    assert "Start the round trip" in response.text
    assert '/static/js/test_room.js' in response.text


def test_a_turn_credential_comes_only_with_a_round_trip_and_lasts_minutes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, turn_secret="s3cret", turn_urls=("turn:turn.example:3478",),
                             stun_urls=("stun:turn.example:3478",), turn_ttl=86_400, test_calls_per_address=3)
    live = LiveServer(settings).start()
    try:
        with httpx.Client(base_url=live.url, timeout=TIMEOUT) as http:
            page = http.get("/test?lang=en").text
            assert "turn:" not in page and "credential" not in page  # anybody may load the page: no relay in it

            before = time.time()
            ice = http.post("/api/v1/test-room/ice").json()
            assert ice["iceTransportPolicy"] == "all"
            stun, relay = ice["iceServers"]
            assert stun == {"urls": ["stun:turn.example:3478"]}
            expires, user = relay["username"].split(":")
            assert user.startswith("test-") and relay["urls"] == ["turn:turn.example:3478"]
            assert before + 60 <= int(expires) <= time.time() + 180  # a round trip and two minutes, not a day
            assert relay["credential"] == turn.credential("s3cret", user, 0, now=int(expires)).password

            codes = [http.post("/api/v1/test-room/ice").status_code for _ in range(3)]
            assert codes == [200, 200, 429]
            refused = http.post("/api/v1/test-room/ice").json()["error"]
            assert refused["code"] == "too_many_tests" and refused["message"]
            # Credentials and round trips are counted apart: the visitor may still start the trip.
            assert http.post("/api/v1/test-room/offer", json={"type": "offer", "sdp": "x"}).status_code == 422
    finally:
        live.stop()


def test_without_aiortc_the_page_still_checks_devices_and_says_the_round_trip_is_unavailable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A fresh interpreter in which aiortc cannot be imported, as on a server installed without the extra.
    script = f"""
import sys
sys.modules["aiortc"] = None
from fastapi.testclient import TestClient
from visitt.app import create_app
from visitt.settings import Settings
with TestClient(create_app(Settings(data_dir=__import__("pathlib").Path({str(tmp_path)!r})))) as client:
    page = client.get("/test?lang=en")
    assert page.status_code == 200 and "The round trip is not available on this server" in page.text, page.text
    assert 'id="start"' not in page.text and "/static/js/test_room.js" in page.text
    refused = client.post("/api/v1/test-room/offer", json={{"type": "offer", "sdp": "v=0"}})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "not_available", refused.text
    refused = client.post("/api/v1/test-room/ice")
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "not_available", refused.text
    assert "aiortc" not in [name for name, module in sys.modules.items() if module is not None]
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
