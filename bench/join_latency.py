"""Joining, Chromium on loopback: SMS link opened → knocked, and admit click → first remote video frame.

    python bench/join_latency.py [--runs 10] [--knock-runs 10] [--rounds 3] [--network loopback|slow|kernel] [--trace]

Starts Visitt on a loopback port (SQLite), one clinician page and phone-sized patient pages in
Debian's Chromium with fake camera and microphone. ``--rounds``: the whole measurement again, each
round on a fresh server and browser; the tables give each round's p50 and the figures of all runs
together (a shared machine is noisy: one round proves little).

``--network slow``: the patient's page on an emulated slow phone - Chromium's DevTools network
emulation (``Network.emulateNetworkConditions``: 1.6 Mbit/s down, 750 kbit/s up, 150 ms latency on
every request and on the WebSocket's connection) and ``Emulation.setCPUThrottlingRate`` 4, through
Playwright's ``new_cdp_session``. The clinician stays at a desk on loopback. The emulation's latency
holds up WebRTC's packets too (Chromium 156: two peer connections in one emulated page measured a round
trip of 612 ms, 150 ms at each send and each receipt), so the patient's page is about 300 ms of round
trip from the clinician's for ICE, DTLS and the pictures, as a phone on a slow mobile network would be.

- Link → knocked: each run opens a new booking's SMS link in a fresh phone context (nothing
  cached, as on a phone that has never seen the site) and times the page's load event, the device
  check (the camera preview shows a picture), the name typed, and the knock acknowledged (the page
  shows the waiting room: the socket opened, said hello, knocked and heard ``waiting``). Timed from
  the script, so each step includes a few milliseconds of Playwright's own round trip.
- Admit → first frame: each run books, knocks, admits and times from the click on "Admit" to the
  first remote frame each page paints (requestVideoFrameCallback), then ends the consultation. The
  clicks come once the clinician's page is ready (its camera on and a connection prepared for the
  patient, which it does by itself when someone knocks) and half a second more, as a clinician's would a
  moment after the chime (by then its page has answered the patient's offer ahead too).

``--network kernel``: the same slow phone on a network the kernel makes (``PHONE_LINK``: the patient's browser in
a network namespace of its own, tests/network.py, 150 ms a round trip for every packet, 750 kbit/s up and 1.6 Mbit/s
down), the CPU slowed 4× as above; needs root. DevTools' emulation delays HTTP once a request but WebRTC's packets at
both ends (a round trip of 300 ms for the call); here the page and the call share one network.

``--trace``: where the time of admit → first frame goes. Both pages note the wall-clock time of each
step (a message in or out on the signaling socket and when the page's handler of it returned, each
description set, the ICE and connection states, the call coming into view, the first frame and when
its last packet came, with its size), and a table gives each step's p50 after the click. Printed only.

Prints p50/p95 and rewrites its section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import percentile, print_steps, write_section  # noqa: E402
from tests.browser import DESK, PHONE, sign_in  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, make_settings  # noqa: E402
from tests.network import Impairment, open_site  # noqa: E402
from visitt.testing import LiveServer  # noqa: E402

# Leaves in window.firstFrame a promise of the wall-clock time the page first paints a remote video frame.
FIRST_FRAME = """() => { window.firstReceived = 0; window.firstFrame = new Promise((resolve, reject) => {
  setTimeout(() => reject(new Error("no remote frame within 15 s")), 15000);
  const watch = (video) => video.requestVideoFrameCallback((now, frame) => {
    // when its last packet came, for --trace (WebRTC sources give it): the rest is decoding and painting
    if (frame.receiveTime) window.firstReceived = performance.timeOrigin + frame.receiveTime;
    window.firstSize = `${frame.width}×${frame.height}`;
    resolve(performance.timeOrigin + now);
  });
  const tiles = document.querySelector("#tiles");
  const existing = tiles.querySelector("figure:not(.self) video");
  if (existing) { watch(existing); return; }
  new MutationObserver((changes, observer) => {
    const video = tiles.querySelector("figure:not(.self) video");
    if (video) { observer.disconnect(); watch(video); }
  }).observe(tiles, {childList: true, subtree: true});
}); }"""
CLICK_ADMIT = """() => {
  const at = performance.timeOrigin + performance.now();
  document.querySelector("#waiting .admit").click();
  return at;
}"""


# In the patient's page from its start: when the preview first paints a frame, and when the knock form
# is acknowledged (the page shows the waiting room), in milliseconds of the page's clock.
STEPS = """(() => {
  window.steps = {};
  new MutationObserver((changes, observer) => {
    const preview = document.querySelector('#preview');
    if (preview && !window.steps.watching) {
      window.steps.watching = true;
      preview.requestVideoFrameCallback((now) => { window.steps.preview = now; });
    }
    const waiting = document.querySelector('#waiting-room');
    if (waiting && !waiting.hidden && window.steps.pressed) { window.steps.knocked = performance.now(); observer.disconnect(); }
  }).observe(document, {childList: true, subtree: true, attributes: true, attributeFilter: ['hidden']});
})()"""
# Typed and pressed from inside the page, as a tap would: Playwright's own checks before a fill and a
# click take 0.5-1.5 s on a page slowed 4×, a wait that is the script's, not the patient's.
TYPE_NAME = """() => { const name = document.querySelector('#name'); name.value = 'Bench Patient';
  name.dispatchEvent(new Event('input', {bubbles: true})); }"""
PRESS_JOIN = "() => { window.steps.pressed = performance.now(); document.querySelector('#join').click(); }"
SLOW_NETWORK = {"offline": False, "latency": 150, "downloadThroughput": 1_600_000 / 8, "uploadThroughput": 750_000 / 8}
SLOW_CPU = 4
# --network kernel: the same slow phone's network made by the kernel for every packet alike (tests/network.py: a
# 75-ms delay each way, so a round trip of 150 ms, and token buckets at 750 kbit/s up and 1.6 Mbit/s down),
# where DevTools' emulation gives HTTP a round trip of 150 ms but WebRTC's packets 300 (150 at each send and each
# receipt). The CPU is slowed 4× as for --network slow. Needs root (namespaces).
PHONE_LINK = Impairment(delay_ms=75, rate_kbit=750, down_kbit=1600)
# The clinician's page has its camera on and a connection ready for each waiting patient (host.js getReady).
# And a moment later, as a clinician's click would come after the chime: the page's work on the knock is done (its
# connection prepared, the patient's offer answered ahead), whatever the load.
CLICK_AFTER_MS = 500
READY = """() => (!document.querySelector('#ready-preview') || document.querySelector('#ready-preview video').videoWidth > 0)
  && document.querySelectorAll('#waiting li').length > 0"""


# In both pages from their start, for --trace: the wall-clock time of each step of a call's set-up, by name
# (the first of each; "in admitted", "out signal offer", "set local answer", "ice checking", "connected" ...).
TRACE = """(() => {
  window.trace = {};
  const at = () => performance.timeOrigin + performance.now();
  const note = (step) => { if (!(step in window.trace)) window.trace[step] = at(); };
  const what = (message) => [message.type, message.description?.type || (message.candidate ? 'candidate' : '')]
    .filter(Boolean).join(' ');
  const Socket = window.WebSocket;
  window.WebSocket = class extends Socket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => { try { note('in ' + what(JSON.parse(event.data))); } catch {} });
    }
    send(data) { try { note('out ' + what(JSON.parse(data))); } catch {} return super.send(data); }
    // when the page's own handler of a message returns: what it did in between held up the next message
    set onmessage(handler) {
      super.onmessage = handler && ((event) => {
        const done = handler.call(this, event);
        try { note('handled ' + what(JSON.parse(event.data))); } catch {}
        return done;
      });
    }
    get onmessage() { return super.onmessage; }
  };
  // when the call comes into view (its section no longer hidden): the page's drawing of it follows
  new MutationObserver(() => { const call = document.getElementById('call'); if (call && !call.hidden) note('call shown'); })
    .observe(document, {subtree: true, attributes: true, attributeFilter: ['hidden']});
  const Connection = window.RTCPeerConnection;
  window.traced = [];  // every connection, for the statistics of the first frame (FIRST_FRAME_STATS)
  window.RTCPeerConnection = class extends Connection {
    constructor(...args) {
      super(...args);
      window.traced.push(this);
      this.addEventListener('icegatheringstatechange', () => note('gathering ' + this.iceGatheringState));
      this.addEventListener('iceconnectionstatechange', () => note('ice ' + this.iceConnectionState));
      this.addEventListener('connectionstatechange', () => note('connection ' + this.connectionState));
      this.addEventListener('track', () => note('track'));
    }
    async setLocalDescription(...args) {
      note('setting local'); const done = await super.setLocalDescription(...args);
      note('set local ' + this.localDescription.type); return done;
    }
    async setRemoteDescription(...args) {
      note('setting remote'); const done = await super.setRemoteDescription(...args);
      note('set remote ' + this.remoteDescription.type); return done;
    }
  };
})()"""


# For --trace, started just before the click: each page reads its open connections' statistics every few
# milliseconds for 2 s and notes in window.trace when its video first goes out (frames captured while connected,
# encoded, sent) and comes in (packets, frames received, decoded); window.firstOut keeps the outgoing video's
# figures when its first frame has been sent, window.firstIn the incoming video's when its first is decoded.
# Statistics are read on the browser's own threads; the page's share of each reading is a few milliseconds.
FIRST_FRAME_STATS = """() => {
  const at = () => performance.timeOrigin + performance.now();
  const note = (step, time) => { if (!(step in window.trace)) window.trace[step] = time; };
  const until = at() + 2000;
  window.firstOut = null; window.firstIn = null;
  let sourceFrames = null, connectedAt = 0;
  const read = async () => {
    for (const pc of window.traced) {
      if (pc.connectionState === 'closed' || !pc.remoteDescription) continue;
      const report = await pc.getStats();
      const now = at();
      if (!connectedAt && pc.connectionState === 'connected') connectedAt = now;
      report.forEach((s) => {
        if (s.type === 'media-source' && s.kind === 'video') {
          if (sourceFrames !== null && s.frames > sourceFrames && connectedAt) note('video source: a frame after connected', now);
          sourceFrames = s.frames;
          window.sourceFps = s.framesPerSecond;
        }
        if (s.type === 'outbound-rtp' && s.kind === 'video') {
          if (s.framesEncoded > 0) note('video out: first frame encoded', now);
          if (s.packetsSent > 0) note('video out: first packet sent', now);
          if (s.framesSent > 0 && !window.firstOut) {
            note('video out: first frame sent', now);
            window.firstOut = {bytes: s.bytesSent, packets: s.packetsSent, keyFrames: s.keyFramesEncoded, frames: s.framesEncoded,
              encodeMs: 1000 * s.totalEncodeTime, pacerMs: 1000 * s.totalPacketSendDelay, width: s.frameWidth,
              limitation: s.qualityLimitationReason, target: s.targetBitrate, encoder: s.encoderImplementation};
          }
        }
        if (s.type === 'outbound-rtp' && s.kind === 'audio' && s.packetsSent > 0) note('audio out: first packet sent', now);
        if (s.type === 'inbound-rtp' && s.kind === 'audio' && s.packetsReceived > 0) note('audio in: first packet', now);
        if (s.type === 'inbound-rtp' && s.kind === 'video') {
          if (s.packetsReceived > 0) note('video in: first packet', now);
          if (s.framesReceived > 0) note('video in: first frame received', now);
          if (s.framesDecoded > 0 && !window.firstIn) {
            note('video in: first frame decoded', now);
            window.firstIn = {bytes: s.bytesReceived, packets: s.packetsReceived, width: s.frameWidth,
              jitterMs: s.jitterBufferEmittedCount ? 1000 * s.jitterBufferDelay / s.jitterBufferEmittedCount : null,
              decodeMs: 1000 * s.totalDecodeTime};
          }
        }
        if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && s.availableOutgoingBitrate)
          window.startKbps = window.startKbps || s.availableOutgoingBitrate / 1000;
      });
    }
    if (at() < until && !(window.firstOut && window.firstIn)) setTimeout(read, 5);
  };
  window.startKbps = 0;
  read();
}"""


def new_phone_page(context: BrowserContext, network: str) -> Page:
    page = context.new_page()
    if network in ("slow", "kernel"):
        cdp = context.new_cdp_session(page)
        if network == "slow":
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", SLOW_NETWORK)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": SLOW_CPU})
    return page


BOOKED = itertools.count()


def book(server: LiveServer) -> str:
    starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    phone = f"+4741{next(BOOKED) % 1_000_000:06d}"  # a number of its own each time: SMS to one number are limited
    booked = httpx.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                        json={"patient_name": "Bench Patient", "patient_phone": phone, "starts_at": starts})
    booked.raise_for_status()
    return str(booked.json()["join_url"])


def knock_run(server: LiveServer, browser: Browser, network: str) -> dict[str, float]:
    """SMS link opened in a fresh phone → knocked: milliseconds from the start to each milestone, by the
    page's own clock (from the navigation's start, when the link was opened)."""
    join_url = book(server)
    context = browser.new_context(**PHONE)
    context.add_init_script(STEPS)
    try:
        patient = new_phone_page(context, network)
        patient.goto(join_url, wait_until="commit")
        patient.wait_for_function("() => window.steps.preview")
        patient.evaluate(TYPE_NAME)
        patient.evaluate(PRESS_JOIN)
        patient.wait_for_function("() => window.steps.knocked")
        steps = patient.evaluate("""() => ({...window.steps,
          loaded: performance.getEntriesByType('navigation')[0].loadEventEnd})""")
    finally:
        context.close()
    return {"page loaded": steps["loaded"], "camera preview shows": steps["preview"],
            "Join pressed": steps["pressed"], "knocked": steps["knocked"]}


Trace = list[tuple[str, float]]  # (page: step, ms after the click)


Figures = dict[str, float]  # "page: figure" → value, of one run (the first frame's statistics, for --trace)


def one_run(server: LiveServer, host: Page, patient: Page, traces: list[Trace] | None = None,
            stats: list[Figures] | None = None) -> tuple[float, float]:
    patient.goto(book(server))
    patient.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
    patient.get_by_label("Your full name").fill("Bench Patient")
    patient.get_by_role("button", name="Join").click()
    host.locator("#waiting li .admit").wait_for()
    host.wait_for_function(READY)
    host.wait_for_timeout(CLICK_AFTER_MS)
    host.evaluate(FIRST_FRAME)
    patient.evaluate(FIRST_FRAME)
    if traces is not None:
        for page in (host, patient):
            page.evaluate("() => { window.trace = {}; }")
            if stats is not None:
                page.evaluate(FIRST_FRAME_STATS)
    clicked = host.evaluate(CLICK_ADMIT)
    host_ms = host.evaluate("() => window.firstFrame") - clicked
    patient_ms = patient.evaluate("() => window.firstFrame") - clicked
    if traces is not None:
        traces.append(sorted([(f"{who}: {step}", at - clicked) for who, page in (("clinician", host), ("patient", patient))
                              for step, at in page.evaluate("() => window.trace").items()]
                             + [("clinician: first frame", host_ms), ("patient: first frame", patient_ms)]
                             + [(f"{who}: first frame's last packet in ({page.evaluate('() => window.firstSize')})", received - clicked)
                                for who, page in (("clinician", host), ("patient", patient))
                                if (received := page.evaluate("() => window.firstReceived || 0"))],
                             key=lambda item: item[1]))
    if stats is not None:
        figures: Figures = {}
        for who, page in (("clinician", host), ("patient", patient)):
            seen = page.evaluate("() => ({out: window.firstOut, in: window.firstIn, fps: window.sourceFps, kbps: window.startKbps})")
            for side in ("out", "in"):
                for name, value in (seen[side] or {}).items():
                    if isinstance(value, (int, float)):
                        figures[f"{who}: first frame {side}: {name}"] = value
            figures[f"{who}: camera frames a second"] = seen["fps"] or 0
            figures[f"{who}: first outgoing estimate (kbit/s)"] = seen["kbps"] or 0
        stats.append(figures)
    host.get_by_role("button", name="End consultation").click()
    patient.get_by_text("The consultation has ended").wait_for()
    return host_ms, patient_ms


def measure(args: argparse.Namespace, traces: list[Trace] | None = None, stats: list[Figures] | None = None
            ) -> tuple[list[tuple[float, float]], list[dict[str, float]]]:
    """One round: a fresh server and browser, one warm-up, then the runs (``traces``: each run's steps). With
    ``--network kernel`` the patient's browser is in a network namespace of its own (tests/network.py) behind the
    slow phone's link (``PHONE_LINK``), the clinician's in the clinic's, Visitt and coturn in the server's."""
    with tempfile.TemporaryDirectory() as data:
        if args.network == "kernel":
            with open_site(Path(data)) as site:
                site.net.impair(PHONE_LINK)
                return rounds_on(args, site.server, site.base, site.clinic, site.patient, traces, stats)
        with sync_playwright() as playwright:
            server = LiveServer(make_settings(Path(data))).start()
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                return rounds_on(args, server, server.url, browser, browser, traces, stats)
            finally:
                browser.close()
                server.stop()


def rounds_on(args: argparse.Namespace, server: LiveServer, base: str, clinic: Browser, phones: Browser,
              traces: list[Trace] | None, stats: list[Figures] | None
              ) -> tuple[list[tuple[float, float]], list[dict[str, float]]]:
    """The warm-up, the runs and the knocks of a round: the clinician's pages in ``clinic``, the patient's in
    ``phones``, Visitt at ``base``."""
    desk = clinic.new_context(**DESK)
    phone = phones.new_context(**PHONE)
    for context in (desk, phone):
        context.set_default_timeout(60_000)  # a page over a slow link loads slowly
        if traces is not None:
            context.add_init_script(TRACE)
    host = desk.new_page()
    sign_in(host, base)
    patient = new_phone_page(phone, args.network)
    one_run(server, host, patient)  # warm-up: first getUserMedia, codec set-up
    results = [one_run(server, host, patient, traces, stats) for _ in range(args.runs)]
    knocks = [knock_run(server, phones, args.network) for _ in range(args.knock_runs)]
    return results, knocks


def row(label: str, rounds: list[list[float]]) -> str:
    every = [value for values in rounds for value in values]
    per_round = " / ".join(f"{percentile(values, 0.5):.0f}" for values in rounds)
    return (f"| {label} | {per_round} | **{percentile(every, 0.5):.0f}** | {percentile(every, 0.95):.0f} | "
            f"{min(every):.0f} | {max(every):.0f} |")


def print_trace(args: argparse.Namespace) -> None:
    """Each step of admit → first frame on both pages: in how many runs it came, and its p50 and
    spread after the click, in the order of the p50s."""
    traces: list[Trace] = []
    stats: list[Figures] = []
    for _ in range(args.rounds):
        measure(argparse.Namespace(**{**vars(args), "knock_runs": 0}), traces, stats if args.stats else None)
    print_steps(traces, f"admit → first frame, {args.network}, {len(traces)} runs", "runs", "the click")
    if not args.stats:
        return
    print("\nThe first video frame's statistics (outgoing: when it was sent; incoming: when it was decoded)")
    print("| figure | runs | p50 | min | max |\n|---|---|---|---|---|")
    for name in sorted({name for figures in stats for name in figures}):
        values = [figures[name] for figures in stats if name in figures]
        print(f"| {name} | {len(values)} | {percentile(values, 0.5):.1f} | {min(values):.1f} | {max(values):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="admit → first frame runs a round")
    parser.add_argument("--knock-runs", type=int, default=10, help="link opened → knocked runs a round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each on a fresh server and browser")
    parser.add_argument("--network", choices=("loopback", "slow", "kernel"), default="loopback",
                        help="slow: the patient's page on an emulated slow phone network and CPU; kernel: the "
                             "same network made by the kernel in network namespaces (needs root), the CPU as slow")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    parser.add_argument("--trace", action="store_true",
                        help="print where admit → first frame goes, step by step (p50 after the click); writes nothing")
    parser.add_argument("--stats", action="store_true",
                        help="with --trace: also read each page's statistics every few ms from the click (the first "
                             "video frame captured, encoded, sent, received; its size, encoding and pacing). The "
                             "readings load the pages: the other steps come later than without")
    args = parser.parse_args()
    if args.trace:
        print_trace(args)
        return
    loads = []
    rounds = []
    for _ in range(args.rounds):
        rounds.append(measure(args))
        loads.append(os.getloadavg()[0])
    admits = [results for results, _ in rounds]
    knocks = [knocked for _, knocked in rounds]
    lines = [row(label, [[pick(r) for r in results] for results in admits]) for label, pick in (
        ("clinician sees patient", lambda r: r[0]), ("patient sees clinician", lambda r: r[1]),
        ("both see each other", max))]
    steps = [row(step, [[run[step] for run in knocked] for knocked in knocks]) for step in knocks[0][0]]
    slow = args.network in ("slow", "kernel")
    targets = ("≤ 2.5 s p50", "≤ 1 s p50") if slow else ("≤ 400 ms p50", "≤ 150 ms p50")
    phone = {"slow": "the patient's page on an emulated slow phone: DevTools network emulation at 1.6 Mbit/s down, "
                     "750 kbit/s up and 150 ms latency, and the CPU slowed 4×; ",
             "kernel": "the patient's browser on a slow phone's network made by the kernel (network namespaces, "
                       "tests/network.py: 75 ms each way, so 150 ms a round trip for every packet, 1.6 Mbit/s down, "
                       "750 kbit/s up), and the CPU slowed 4× (DevTools); ",
             }.get(args.network, "")
    header = "| ms | p50 of each round | p50, all runs | p95 | min | max |\n|---|---|---|---|---|---|"
    load = ", ".join(f"{value:.1f}" for value in loads)
    body = "\n".join([
        f"## Join latency{', slow phone' if slow else ''}{' on the kernel' + chr(39) + 's network' if args.network == 'kernel' else ''}"
        f" (`bench/join_latency.py{' --network ' + args.network if slow else ''}`)",
        "",
        f"{args.rounds} rounds, each on a fresh server and browser; the load average (1 min) after each: {load}.",
        "",
        "### SMS link opened → knocked",
        "",
        f"Chromium, {phone}a fresh phone-sized context each time (nothing cached), fake camera and microphone, "
        f"{args.knock_runs} runs a round; milliseconds from opening the link to each step. \"Knocked\": the page "
        "shows the waiting room, the server having acknowledged the knock. Timed by the page's own clock from the "
        "navigation's start. The name is typed and Join pressed by the script as soon as the preview shows, from "
        "inside the page (Playwright's checks before a fill or a click would add 0.5-1.5 s of their own on a "
        "slowed page). "
        f"Target: knocked {targets[0]}.",
        "",
        header,
        *steps,
        "",
        "### Admit → first remote frame",
        "",
        f"Chromium, two pages ({phone or 'both on loopback; '}the clinician at a desk), fake camera and "
        f"microphone, {args.runs} runs a round after one warm-up. The clinician's camera is on and a connection "
        "is prepared from the knock on, so the click waits for neither. "
        f"Target: {targets[1]}.",
        "",
        header,
        *lines,
    ])
    print(body)
    if not args.no_write:
        write_section({"slow": "join_latency_slow", "kernel": "join_latency_kernel"}.get(args.network, "join_latency"), body)


if __name__ == "__main__":
    main()
