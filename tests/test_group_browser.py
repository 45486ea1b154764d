"""static/js/sfu.js in real Chromium, through Visitt and a real Janus: the patient's page of a group
consultation publishes its (fake) camera in three simulcast layers (all three carrying bytes) and receives
the clinician, an aiortc participant; the clinician receives the page's picture. Frames are decoded on both
sides. The clinician switched to the page's low layer (``sfu_layer``) receives a picture a quarter as wide, and
back on the high one the full width again; so does a second Chromium page (a quarter: about 320 wide). The page
drives sfu.js directly, to see the simulcast layers on the wire;
the consultation pages run it through group_call.js (tests/test_group_pages_browser.py). And sfu.js's choice of the
layers' ceiling from a page's own statistics steps down at once and up slowly."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from visitt.testing import LiveServer

from . import test_sfu
from .browser import until
from .conftest import make_settings
from .janus import SECRET, JanusServer
from .peers import WsClient, run, staff_login

OPEN = """async (token) => {
  const { Signaling } = await import("/static/js/protocol.js");
  const signaling = window.signaling = new Signaling(`/ws/v/${token}`);
  window.admitted = new Promise((resolve) => signaling.addEventListener("admitted", (e) => resolve(e.detail), { once: true }));
  const welcome = await signaling.connect();
  signaling.send({ type: "knock", name: "Kari Nordmann" });
  return welcome.id;
}"""
PUBLISH = """async () => {
  const { SfuCall } = await import("/static/js/sfu.js");
  const admitted = await window.admitted;
  const local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
  const call = window.sfuCall = new SfuCall(window.signaling, local, admitted.ice);
  window.seen = {};
  call.addEventListener("track", ({ detail: { id, track } }) => {
    if (track.kind !== "video") return;
    const video = document.createElement("video");
    video.muted = true;
    video.srcObject = new MediaStream([track]);
    document.body.append(video);
    const count = () => { window.seen[id] = { frames: (window.seen[id]?.frames || 0) + 1, width: video.videoWidth };
                          video.requestVideoFrameCallback(count); };
    video.requestVideoFrameCallback(count);
    video.play();
  });
  await call.publish();
  return { media: admitted.media, layers: call.sending.getSenders().find((s) => s.track.kind === "video")
                                                 .getParameters().encodings.map((e) => e.rid) };
}"""


LAYERS_SENT = """async () => {
  const sent = [];
  (await window.sfuCall.sending.getStats()).forEach((report) => {
    if (report.type === "outbound-rtp" && report.kind === "video" && report.bytesSent > 0) sent.push(report.rid);
  });
  return sent.sort().join() === "h,l,m";
}"""


async def width(track: Any, wanted: Any) -> int:
    """The width of the first frame that ``wanted`` accepts, within 60 s of frames (a switch waits for a key
    frame; a loaded machine is slow)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while loop.time() < deadline:
        frame: Any = await asyncio.wait_for(track.recv(), 15)
        if wanted(frame.width):
            return int(frame.width)
    raise AssertionError("the picture's width did not change")


# The clinician's sound only asked for, and at once the picture again (as when the active speaker changes twice
# quickly): the first offer, still on its way, is not for the connection that replaced it.
RESUBSCRIBE = """(id) => {
  window.errors = [];
  window.sfuCall.addEventListener("error", ({ detail }) => window.errors.push(`${detail.where}: ${detail.error}`));
  window.seen = {};
  window.sfuCall.subscribe(id, false);
  window.sfuCall.subscribe(id, true);
}"""

CEILING = """async () => {
  const { LayerCeiling } = await import("/static/js/sfu.js");
  const ceiling = new LayerCeiling();
  const steps = [0.2, 0.2, 0.2, 0, 0, 0.05, 0, 0, 0, 0, 0, 0].map((loss) => ceiling.update({ loss }));
  const short = new LayerCeiling().update({ loss: 0, bitrate: 200_000, need: 900_000 });
  return { steps, short };
}"""


async def clinician(server: LiveServer, patient_id: list[str], result: dict[str, Any]) -> None:
    """The clinician (aiortc): admits the page's patient, publishes, receives the page's picture."""
    async with await WsClient.staff(server, staff_login(server)) as host:
        result["host"] = (await host.hello())["id"]
        knock = await host.expect("knock", timeout=20)
        patient_id.append(knock["participant"]["id"])
        await host.send({"type": "admit", "room": knock["room"], "participant": patient_id[0]})
        peer = test_sfu.GroupPeer(host, test_sfu.BLUE)
        try:
            await peer.publish()
            await peer.wait_for_feeds({patient_id[0]})
            tracks = await peer.subscribe(patient_id[0])
            frame: Any = None
            for _ in range(10):
                frame = await asyncio.wait_for(tracks["video"].recv(), 15)
            result["frame"] = (frame.width, frame.height)
            # the high layer first (Chromium's bandwidth estimate ramps up; wait generously), then the low one
            high = await width(tracks["video"], lambda w: w >= 640)
            await host.send({"type": "sfu_layer", "participant": patient_id[0], "sub": peer.subs, "layer": "l"})
            low = await width(tracks["video"], lambda w: w <= high // 3)
            await host.send({"type": "sfu_layer", "participant": patient_id[0], "sub": peer.subs, "layer": "h"})
            back = await width(tracks["video"], lambda w: w >= 2 * low)
            result["layers"] = (high, low, back)
            await asyncio.to_thread(result["done"].wait, 60)  # keep the call up until the page has seen the clinician
        finally:
            await peer.close()


@pytest.mark.browser
def test_the_page_publishes_in_simulcast_and_both_sides_decode(browser: Browser, janus: JanusServer,
                                                               tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET)).start()
    context = browser.new_context()
    try:
        patient_token, _ = test_sfu._book_group(server)
        patient_id: list[str] = []
        result: dict[str, Any] = {"done": threading.Event()}

        def the_clinician() -> None:
            try:
                run(clinician(server, patient_id, result))
            except BaseException as error:  # raised in the test below, not lost in the thread
                result["error"] = error

        side = threading.Thread(target=the_clinician)
        side.start()
        try:
            page = context.new_page()
            page.goto(f"{server.url}/staff/login")
            while "host" not in result and "error" not in result:
                page.wait_for_timeout(50)
            own_id = page.evaluate(OPEN, patient_token)
            published = page.evaluate(PUBLISH)
            assert published == {"media": "sfu", "layers": ["h", "m", "l"]}
            page.wait_for_function("(id) => (window.seen[id]?.frames || 0) > 10 && window.seen[id].width > 0",
                                   arg=result["host"], timeout=60000)  # generous: a loaded machine
            assert patient_id == [own_id]
            page.evaluate(RESUBSCRIBE, result["host"])
            page.wait_for_function("(id) => (window.seen[id]?.frames || 0) > 10", arg=result["host"], timeout=60000)
            assert page.evaluate("() => window.errors") == []
            # three layers on the wire (Chromium sends its lowest only from 960x540 up: the camera is 720p here)
            until(page, LAYERS_SENT, what="three simulcast layers sent", timeout=30)
        finally:
            result["done"].set()
            side.join(60)
            if "error" in result:
                raise result["error"]
        assert result["frame"][0] >= 160, result  # the page's camera, decoded from Janus
        high, low, back = result["layers"]
        assert low <= high // 3 and back >= 2 * low, result  # 1280 → 320 → 1280 when the machine keeps up
        # down one layer at once per lossy sample; up one only after three good ones in a row
        assert page.evaluate(CEILING) == {"steps": ["m", "l", "l", "l", "l", "l", "l", "l", "m", "m", "m", "h"],
                                          "short": "m"}
    finally:
        context.close()
        server.stop()


# The receiving page's own layer choice set aside (it never asks for "l": its thumbnails are half size), and the
# layer of the sender's picture asked for as a page does (sfu_layer, on the subscription's number).
ASK_LAYER = """([id, layer]) => {
  const call = window.sfuCall;
  call.applyLayers = () => {};
  call.signaling.send({ type: "sfu_layer", participant: id, sub: call.receiving.get(id).sub, layer });
}"""
# The width the page decodes the sender's picture at now, once a frame of it has come since `since` frames.
DECODED_WIDTH = """async ([id, since]) => {
  const entry = window.sfuCall.receiving.get(id);
  let width = 0, frames = 0;
  if (entry) (await entry.pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") { width = r.frameWidth || 0; frames = r.framesDecoded || 0; }
  });
  return frames > since ? { width, frames } : null;
}"""
RECEIVE_ONLY = """async () => {
  const { SfuCall } = await import("/static/js/sfu.js");
  const admitted = await window.admitted;
  const call = window.sfuCall = new SfuCall(window.signaling, new MediaStream(), admitted.ice,
                                            { feeds: admitted.feeds });
  return admitted.feeds;  // the sender's picture subscribed to at once, or at its sfu_feed
}"""


async def admitter(server: LiveServer, knocks: int, result: dict[str, Any]) -> None:
    """The clinician's socket (no media): lets in ``knocks`` knocks, and stays until the test is done."""
    async with await WsClient.staff(server, staff_login(server)) as host:
        result["host"] = (await host.hello())["id"]
        for _ in range(knocks):
            knock = await host.expect("knock", timeout=60)
            await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})
        await asyncio.to_thread(result["done"].wait, 600)


@pytest.mark.browser
def test_a_page_asking_for_the_low_layer_decodes_a_quarter_of_the_width_and_the_full_one_back(
        browser: Browser, janus: JanusServer, tmp_path: Path) -> None:
    """Two Chromium pages: the patient's sends its 1280×720 camera in three layers, the companion's receives it
    and asks for the low layer (``sfu_layer`` ``l``): it decodes a picture about 320 wide; asked for the high one
    again, 1280 wide. (Waits are generous: a switch waits for the layer's key frame, and a loaded machine.)"""
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET)).start()
    contexts = [browser.new_context() for _ in range(2)]
    result: dict[str, Any] = {"done": threading.Event()}
    side = threading.Thread(target=lambda: run(admitter(server, 2, result)))
    side.start()
    try:
        patient_token, companion_token = test_sfu._book_group(server)
        sender, receiver = (context.new_page() for context in contexts)
        for page in (sender, receiver):
            page.goto(f"{server.url}/staff/login")
        while "host" not in result:
            sender.wait_for_timeout(50)
        sender_id = sender.evaluate(OPEN, patient_token)
        assert sender.evaluate(PUBLISH)["layers"] == ["h", "m", "l"]
        until(sender, LAYERS_SENT, what="three simulcast layers sent", timeout=60)
        receiver.evaluate(OPEN, companion_token)
        receiver.evaluate(RECEIVE_ONLY)
        until(receiver, DECODED_WIDTH, [sender_id, 10], what="the sender's picture decoded", timeout=60)
        for layer, fits in (("l", lambda width: 0 < width <= 400), ("h", lambda width: width >= 960)):
            receiver.evaluate(ASK_LAYER, [sender_id, layer])
            deadline = time.monotonic() + 60
            while not fits((now := receiver.evaluate(DECODED_WIDTH, [sender_id, 0]) or {"width": 0})["width"]):
                assert time.monotonic() < deadline, f"the {layer} layer not decoded within 60 s: {now}"
                receiver.wait_for_timeout(250)
    finally:
        result["done"].set()
        side.join(60)
        for context in contexts:
            context.close()
        server.stop()
