"""A consultation on the mesh that grows past its limit moves to Janus without anyone leaving the call
(issue 20 §3): the patient's page in Chromium (call.js on the mesh, growth.js for the move) sees the
clinician (aiortc) on the mesh; a companion is admitted past ``VISITT_MAX_PARTICIPANTS`` (here 2), so
Visitt moves the call to Janus and tells everyone (``sfu_move``); the page publishes there, receives the
clinician's picture from Janus, and closes its mesh connection once those frames decode. The gap in the
clinician's picture, measured with ``requestVideoFrameCallback`` timestamps on the page, stays within 2 s.
Inviting the companion past the mesh's limit is allowed because Janus answers."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from visitt.testing import LiveServer

from . import test_sfu
from .conftest import make_settings
from .janus import SECRET, JanusServer
from .peers import CallPeer, WsClient, run, staff_login

OPEN = """async (token) => {
  const { Signaling } = await import("/static/js/protocol.js");
  const signaling = window.signaling = new Signaling(`/ws/v/${token}`);
  window.admitted = new Promise((resolve) => signaling.addEventListener("admitted", (e) => resolve(e.detail), { once: true }));
  const welcome = await signaling.connect();
  window.selfId = welcome.id;
  signaling.send({ type: "knock", name: "Kari Nordmann" });
  return welcome.id;
}"""
# the page's side as a consultation page has it: one <video> per person, fed by the call's "track" events
CALL = """async () => {
  const { Call } = await import("/static/js/call.js");
  const { moveToSfu } = await import("/static/js/growth.js");
  const admitted = await window.admitted;
  const local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
  const call = window.mesh = new Call(window.signaling, window.selfId, local, admitted.ice);
  window.frames = {};
  const videos = {};
  call.addEventListener("track", ({ detail: { id, track } }) => {
    if (track.kind !== "video") return;
    let video = videos[id];
    if (!video) {
      video = videos[id] = document.createElement("video");
      video.muted = true;
      document.body.append(video);
      const tick = (now) => { (window.frames[id] ||= []).push(now); video.requestVideoFrameCallback(tick); };
      video.requestVideoFrameCallback(tick);
    }
    video.srcObject = new MediaStream([track]);
    video.play();
  });
  window.signaling.on("sfu_move", ({ max_video }) => {
    window.movedAt = performance.now();
    moveToSfu(call, window.signaling, max_video).then((group) => { window.group = group; });
  });
  for (const peer of admitted.participants) call.connect(peer.id);
  return admitted.participants.map((peer) => peer.id);
}"""
# the longest gap between two of the clinician's frames from a second before the move until now
GAP = """(id) => {
  const times = window.frames[id].filter((t) => t >= window.movedAt - 1000);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i] - times[i - 1]);
  return { gap, after: times.length };
}"""


async def clinician(server: LiveServer, companion_token: str, state: dict[str, Any]) -> None:
    """The clinician (aiortc): on the mesh with the page, admits the companion past the mesh, then sends
    to Janus."""
    async with await WsClient.staff(server, staff_login(server)) as host, \
            await WsClient.guest(server, companion_token) as companion:
        state["host"] = (await host.hello())["id"]
        await companion.hello()
        async with CallPeer(host, colour=test_sfu.BLUE) as mesh:
            knock = await host.expect("knock", timeout=30)
            state["room"] = knock["room"]
            await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})
            await asyncio.to_thread(state["mesh_seen"].wait, 90)  # the page shows the clinician's picture
            await companion.send({"type": "knock", "name": "Ola Nordmann"})
            knock = await host.expect("knock")
            await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})
            state["moved"] = await host.expect("sfu_move")
            state["companion"] = await companion.expect("admitted")
            group = test_sfu.GroupPeer(host, test_sfu.BLUE)
            try:
                await group.publish()
                await asyncio.to_thread(state["done"].wait, 120)
            finally:
                await group.close()
            assert mesh.connections  # (closed by the page: its own side is what the test measures)


@pytest.mark.browser
def test_a_call_grown_past_the_mesh_moves_to_janus_within_two_seconds_of_picture(
        browser: Browser, janus: JanusServer, tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET,
                                      max_participants=2)).start()
    context = browser.new_context()
    try:
        # the companion's invitation passes the mesh (2: the clinician and the patient): allowed, Janus answers
        patient_token, companion_token = test_sfu._book_group(server, group=False)
        state: dict[str, Any] = {"mesh_seen": threading.Event(), "done": threading.Event()}
        side = threading.Thread(target=lambda: run(clinician(server, companion_token, state)))
        side.start()
        try:
            page = context.new_page()
            page.goto(f"{server.url}/staff/login")
            while "host" not in state:
                page.wait_for_timeout(50)
            page.evaluate(OPEN, patient_token)
            assert page.evaluate(CALL) == [state["host"]]
            page.wait_for_function("(id) => (window.frames[id]?.length || 0) > 20", arg=state["host"],
                                   timeout=90000)  # generous: a loaded machine
            state["mesh_seen"].set()
            # the move: the page publishes to Janus, the clinician's picture comes from there, the mesh closes
            page.wait_for_function("() => window.group && window.mesh.peers.size === 0", timeout=90000)
            closed_at = page.evaluate("() => performance.now()")
            page.wait_for_function("([id, t]) => window.frames[id].filter((f) => f > t).length > 30",
                                   arg=[state["host"], closed_at], timeout=60000)
            measured = page.evaluate(GAP, state["host"])
            received = page.evaluate("(id) => window.group.receiving.has(id)", state["host"])
        finally:
            state["done"].set()
            side.join(120)
        assert state["moved"]["max_video"] == 4
        assert state["companion"]["media"] == "sfu"
        assert received  # the picture after the move is Janus's: the mesh's connection is closed
        assert measured["gap"] <= 2000, measured
    finally:
        context.close()
        server.stop()
