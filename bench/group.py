"""A group call of 12 through Janus: join → first frame, Janus's and Visitt's CPU, and what a phone receives
per simulcast layer.

    python bench/group.py [--rounds 2] [--steady 10] [--layer-seconds 5] [--fps 15] [--trace]

Each round starts Debian's Janus (tests/janus.py, a configuration ``visitt janus-config`` wrote) and
``visitt serve`` as a process of its own (so its CPU is its own), books a group consultation, and fills it
with 12 participants: the clinician and 9 patients as aiortc publishers (a tone and a flat-coloured
640×360 picture at ``--fps`` frames a second each: ten VP8 encoders in one Python process starve at 30 on a
loaded 2-core machine), then 2 Chromium pages (patients) running ``static/js/sfu.js``,
one camera at 1280×720 (three simulcast layers), one at 640×360. Each page receives everyone's sound and
at most ``VISITT_MAX_VIDEO_STREAMS`` (4) pictures; the aiortc publishers receive nothing (decoding 11
pictures in each Python peer would measure aiortc, not Janus).

- **Join → first frame**: on each page, from its ``admitted`` to the first remote frame it paints
  (``requestVideoFrameCallback``) through Janus, the 10 others sending already.
- **CPU**: with everyone in, Janus's and ``visitt serve``'s user + system time from ``/proc/<pid>/stat``
  over ``--steady`` seconds, in cores, and per participant.
- **Bytes per layer**: the 360p page receives the 720p page's picture and asks for each layer in turn
  (``sfu_layer``); after 3 s to switch, the video bytes it receives per second over ``--layer-seconds``, and
  the frame width, from Chromium's own statistics (``inbound-rtp``).

Prints the figures and rewrites its section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import fractions
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from playwright.async_api import Page, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import percentile, print_steps, write_section  # noqa: E402
from bench.join_latency import TRACE  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.janus import SECRET, JanusServer  # noqa: E402
from tests.peers import ColourTrack, ToneTrack, WsClient, staff_login  # noqa: E402
from tests.serve import STAFF_PASSWORD, ServeProcess  # noqa: E402

EMAIL = "lege@bench.example"
AIORTC_GUESTS = 9  # + the clinician + 2 pages = 12
TICKS = os.sysconf("SC_CLK_TCK")

# the camera opened before the knock, as the consultation page's device check does
OPEN = """async ([token, height]) => {
  const { Signaling } = await import("/static/js/protocol.js");
  window.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: height * 16 / 9, height } });
  const signaling = window.signaling = new Signaling(`/ws/v/${token}`);
  window.admitted = new Promise((resolve) => signaling.addEventListener("admitted", (e) => {
    window.admittedAt = performance.now(); resolve(e.detail); }, { once: true }));
  await signaling.connect();
  signaling.send({ type: "knock", name: "Kari Nordmann" });
}"""
JOIN = """async () => {
  const { SfuCall } = await import("/static/js/sfu.js");
  const admitted = await window.admitted;
  const call = window.sfuCall = new SfuCall(window.signaling, window.local, admitted.ice, { maxVideo: admitted.max_video, feeds: admitted.feeds });
  window.firstFrame = new Promise((resolve) => {
    call.addEventListener("track", ({ detail: { track } }) => {
      if (track.kind !== "video") return;
      const video = document.createElement("video");
      video.muted = true;
      video.srcObject = new MediaStream([track]);
      document.body.append(video);
      video.requestVideoFrameCallback((now) => resolve(now - window.admittedAt));
      video.play();
    });
  });
  await call.publish();
}"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


class Picture(ColourTrack):
    """A flat-coloured 640×360 camera at ``fps`` frames a second (ColourTrack's pace is fixed at 30)."""

    def __init__(self, rgb: tuple[int, int, int], fps: float) -> None:
        super().__init__(rgb, 640, 360)
        self.fps = fps
        self.started = 0.0
        self.count = 0

    async def recv(self) -> av.VideoFrame:
        if not self.started:
            self.started = time.monotonic()
        self.count += 1
        await asyncio.sleep(max(0.0, self.started + self.count / self.fps - time.monotonic()))
        frame = av.VideoFrame.from_ndarray(self.image, format="rgb24")
        frame.pts, frame.time_base = round(self.count * 90000 / self.fps), fractions.Fraction(1, 90000)
        return frame


class Publisher:
    """One aiortc participant sending a tone and a 640×360 picture to Janus."""

    def __init__(self, socket: WsClient, colour: tuple[int, int, int], fps: float) -> None:
        self.socket = socket
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.local: list[MediaStreamTrack] = [ToneTrack(), Picture(colour, fps)]
        self.page = secrets.token_hex(16)  # its id in sfu_publish, as sfu.js makes one per page

    async def publish(self) -> None:
        for track in self.local:
            self.pc.addTrack(track)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.socket.send({"type": "sfu_publish", "page": self.page, "sdp": self.pc.localDescription.sdp})
        published = await self.socket.expect("sfu_published", timeout=60)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=published["sdp"], type="answer"))

    async def close(self) -> None:
        for track in self.local:
            track.stop()
        await self.pc.close()


def started(server: ServeProcess, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert server.process is not None and server.process.poll() is None, server.stderr()
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "visitt serve did not start"
        time.sleep(0.2)


def book_group(server: ServeProcess, guests: int) -> list[str]:
    """A group consultation starting in ten minutes with ``guests`` patients invited: their tokens."""
    owner = {"Authorization": f"Bearer {server.token}"}
    starts_at = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)).replace(microsecond=0)
    booked = httpx.post(f"{server.url}/api/v1/appointments", headers=owner, timeout=30, json={
        "patient_name": "Kari Nordmann", "patient_phone": "412 34 500", "starts_at": starts_at.isoformat(),
        "duration_minutes": 60, "group": True, "language": "en"})
    assert booked.status_code == 201, booked.text
    tokens = [booked.json()["join_url"].rsplit("/v/", 1)[1]]
    for index in range(1, guests):
        invited = httpx.post(f"{server.url}/api/v1/appointments/{booked.json()['id']}/participants", headers=owner,
                             timeout=30, json={"name": f"Pasient {index}", "kind": "patient",
                                               "phone": f"412 34 {500 + index}"})
        assert invited.status_code == 201, invited.text
        tokens.append(invited.json()["join_url"].rsplit("/v/", 1)[1])
    return tokens


async def admit(host: WsClient, guest: WsClient, name: str) -> None:
    await guest.send({"type": "knock", "name": name})
    knock = await host.expect("knock", timeout=60)
    await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})


# On the 360p page: the 720p page's picture among the ones it receives (in place of the first shown), and the
# page's own layer choice set aside, so that the bench chooses the layer.
RECEIVE = """async (id) => {
  const call = window.sfuCall;
  call.applyLayers = () => {};
  if (!call.shown().includes(id)) { call.subscribe(call.shown()[0], false); call.subscribe(id, true); }
  const until = performance.now() + 120000;
  while (performance.now() < until) {
    let decoded = 0;
    const entry = call.receiving.get(id);
    if (entry) (await entry.pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") decoded = r.framesDecoded; });
    if (decoded > 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}"""
# The video bytes per second the page receives of `id` at `layer` (after 3 s for the switch), and the width then.
LAYER = """async ([id, layer, seconds]) => {
  const call = window.sfuCall;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  call.signaling.send({ type: "sfu_layer", participant: id, sub: call.receiving.get(id).sub, layer });
  await sleep(3000);
  const read = async () => {
    let bytes = 0, width = 0;
    (await call.receiving.get(id).pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") { bytes += r.bytesReceived; width = r.frameWidth || 0; }
    });
    return { bytes, width, at: performance.now() };
  };
  const first = await read();
  await sleep(seconds * 1000);
  const last = await read();
  return [(last.bytes - first.bytes) / ((last.at - first.at) / 1000), last.width];
}"""


async def layer_bytes(receiver: Page, sender_id: str, seconds: float) -> dict[str, tuple[float, int]]:
    """The 360p page receives the 720p page's picture: video bytes per second at each layer, and the width of
    the frames then (Chromium's own statistics: the Python process is busy encoding)."""
    assert await receiver.evaluate(RECEIVE, sender_id), "the 720p page's picture never came"
    await asyncio.sleep(5)  # past the connection's start: the sender's bandwidth estimate ramps up
    figures: dict[str, tuple[float, int]] = {}
    for layer in ("l", "m", "h"):
        rate, width = await receiver.evaluate(LAYER, [sender_id, layer, seconds])
        figures[layer] = (float(rate), int(width))
    return figures

# For --trace, besides bench/join_latency.py's TRACE: each connection's own steps, numbered in the order the page
# made them (1: the one sending to Janus), and for each receiving one the first video packet, the first key
# frame asked for (PLI) and the first frame decoded, from its statistics looked at every 20 ms.
CONNECTIONS_TRACE = """(() => {
  let made = 0;
  const at = () => performance.timeOrigin + performance.now();
  const note = (step) => { if (!(step in window.trace)) window.trace[step] = at(); };
  const Connection = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Connection {
    constructor(...args) {
      super(...args);
      const n = 'pc' + (++made);
      this.addEventListener('iceconnectionstatechange', () => note(n + ' ice ' + this.iceConnectionState));
      this.addEventListener('connectionstatechange', () => note(n + ' ' + this.connectionState));
      const look = setInterval(async () => {
        if (this.connectionState === 'closed') { clearInterval(look); return; }
        (await this.getStats()).forEach((r) => {
          if (r.type !== 'inbound-rtp' || r.kind !== 'video') return;
          if (r.packetsReceived) note(n + ' first video packet');
          if (r.pliCount) note(n + ' PLI sent');
          if (r.framesDecoded) { note(n + ' frame decoded'); clearInterval(look); }
        });
      }, 20);
    }
  };
})()"""


async def one_round(scratch: Path, args: argparse.Namespace) -> dict[str, Any]:
    (scratch / "janus").mkdir()
    (scratch / "visitt").mkdir()
    janus = JanusServer(scratch / "janus")
    server = ServeProcess(scratch / "visitt", email=EMAIL, name="Lege Legesen", VISITT_JANUS_URL=janus.url,
                          VISITT_JANUS_API_SECRET=SECRET)
    publishers: list[Publisher] = []
    sockets: list[WsClient] = []
    try:
        janus.start()
        try:
            server.start()
        except AssertionError:  # not up within tests/serve.py's minute: a loaded machine imports slowly
            started(server, 240)
        tokens = book_group(server, AIORTC_GUESTS + 2)
        host = await WsClient.staff(server, staff_login(server, EMAIL, STAFF_PASSWORD))  # type: ignore[arg-type]
        sockets.append(host)
        await host.hello()
        for index, token in enumerate(tokens[:AIORTC_GUESTS]):
            guest = await WsClient.guest(server, token)  # type: ignore[arg-type]
            sockets.append(guest)
            await guest.hello()
            await admit(host, guest, f"Pasient {index}")
            await guest.expect("admitted", timeout=60)
        for index, socket in enumerate(sockets):
            publisher = Publisher(socket, ((37 * index) % 255, 120, 200), args.fps)
            await publisher.publish()
            publishers.append(publisher)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                pages: list[Page] = []
                joins: list[float] = []
                traces: list[list[tuple[str, float]]] = []
                for height, token in zip((720, 360), tokens[AIORTC_GUESTS:]):
                    context = await browser.new_context()
                    if args.trace:
                        await context.add_init_script(TRACE)
                        await context.add_init_script(CONNECTIONS_TRACE)
                    page = await context.new_page()
                    await page.goto(f"{server.url}/staff/login")
                    await page.evaluate(OPEN, [token, height])
                    knock = await host.expect("knock", timeout=60)
                    await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})
                    await page.evaluate(JOIN)
                    joins.append(await page.evaluate("() => window.firstFrame"))
                    if args.trace:
                        steps = await page.evaluate(
                            "() => Object.entries(window.trace).map(([step, at]) => [step, at - performance.timeOrigin - window.admittedAt])")
                        traces.append(steps + [["first frame", joins[-1]]])
                    pages.append(page)
                    if height == 720:
                        page_id = knock["participant"]["id"]
                await asyncio.sleep(3)  # everyone's streams up
                assert janus.process is not None and server.process is not None
                before = cpu_seconds(janus.process.pid), cpu_seconds(server.process.pid), time.monotonic()
                await asyncio.sleep(args.steady)
                seconds = time.monotonic() - before[2]
                janus_cores = (cpu_seconds(janus.process.pid) - before[0]) / seconds
                visitt_cores = (cpu_seconds(server.process.pid) - before[1]) / seconds
                layers = await layer_bytes(pages[1], page_id, args.layer_seconds)
            finally:
                await browser.close()
        return {"joins": joins, "traces": traces, "janus": janus_cores, "visitt": visitt_cores, "layers": layers,
                "load": os.getloadavg()[0]}
    finally:
        await asyncio.gather(*(publisher.close() for publisher in publishers), return_exceptions=True)
        await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)
        server.stop()
        janus.stop()


def spread(values: list[float], fmt: str) -> str:
    return fmt.format(min(values)) if min(values) == max(values) else f"{fmt.format(min(values))}–{fmt.format(max(values))}"


def print_trace(traces: list[list[tuple[str, float]]]) -> None:
    """Each step of join → first frame (the first of each kind on the page: a message in or out, a
    description set, a connection's ICE and DTLS states), p50 and spread in ms after ``admitted``."""
    print_steps(traces, f"join → first frame through Janus, {len(traces)} joins", "joins", "admitted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steady", type=float, default=10.0)
    parser.add_argument("--layer-seconds", type=float, default=5.0)
    parser.add_argument("--fps", type=float, default=15.0, help="the aiortc publishers' frame rate")
    parser.add_argument("--trace", action="store_true",
                        help="print where each page's join → first frame goes, step by step; writes nothing")
    args = parser.parse_args()
    results = []
    for number in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="visitt-group-") as scratch:
            result = asyncio.run(one_round(Path(scratch), args))
        print(f"round {number + 1}: join → first frame {', '.join(f'{j:.0f} ms' for j in result['joins'])}; "
              f"Janus {result['janus']:.2f} cores, Visitt {result['visitt']:.2f} cores; "
              f"layers h/m/l {result['layers']['h']} {result['layers']['m']} {result['layers']['l']} "
              f"(bytes/s, width); load {result['load']:.1f}", flush=True)
        results.append(result)
    if args.trace:
        print_trace([trace for result in results for trace in result["traces"]])
        return
    joins = [join for result in results for join in result["joins"]]
    janus_cores = [result["janus"] for result in results]
    visitt_cores = [result["visitt"] for result in results]
    p50, p95 = percentile(joins, 0.5), percentile(joins, 0.95)
    layer_rows = "\n".join(
        f"| `{layer}` ({name}) | {spread([r['layers'][layer][0] / 1000 for r in results], '{:.1f}')} kB/s "
        f"({spread([r['layers'][layer][0] * 8 / 1000 for r in results], '{:.0f}')} kbit/s) | "
        f"{', '.join(str(r['layers'][layer][1]) for r in results)} |"
        for layer, name in (("h", "full, 1280×720"), ("m", "half, 640×360"), ("l", "a quarter, 320×180")))
    body = f"""## Group calls through Janus (`bench/group.py`)

12 participants in one group consultation through Janus: the clinician and 9 patients as aiortc publishers
(sound and a flat 640×360 picture at {args.fps:.0f} frames a second each: ten VP8 encoders in one Python process are
what this machine can feed), and 2 Chromium pages running `sfu.js`
(cameras at 1280×720 and 640×360, in simulcast; each page receives everyone's sound and 4 pictures). The aiortc
publishers receive nothing. {args.rounds} rounds, each on a fresh Janus and `visitt serve`.

| Figure | Measured | Target |
|---|---|---|
| Join → first frame (a page whose camera is open already, as after the device check: `admitted` → first remote frame painted), {len(joins)} joins | p50 {p50:.0f} ms, p95 {p95:.0f} ms (each: {", ".join(f"{j:.0f}" for j in joins)}) | ≤ 1 s p50: {"met" if p50 <= 1000 else "missed"} |
| Janus CPU, everyone in, over {args.steady:.0f} s | {spread(janus_cores, "{:.2f}")} cores ({spread([c / 12 * 100 for c in janus_cores], "{:.1f}")} % of a core per participant) | under one core: {"met" if max(janus_cores) < 1 else "missed"} |
| Visitt CPU (`visitt serve`), same window | {spread(visitt_cores, "{:.3f}")} cores ({spread([c / 12 * 100 for c in visitt_cores], "{:.2f}")} % of a core per participant) | — |

What the 360p page receives of the 720p page's picture at each simulcast layer (`sfu_layer`), video bytes only
(Chromium's `inbound-rtp` statistics):

| Layer | Received per second | Width decoded (each round) |
|---|---|---|
{layer_rows}

The load average each round ended with: {", ".join(f"{r['load']:.1f}" for r in results)} (the machine is shared with other
work; figures from a loaded 2-core machine are upper bounds for join times and CPU shares). Janus forwards here to
the two pages only; more receivers add forwarding, not decoding."""
    print(body)
    write_section("group", body)


if __name__ == "__main__":
    main()
