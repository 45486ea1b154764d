"""Media back after a 5-s outage: the patient's socket back → remote frames flowing again, both sides.

    python bench/reconnect.py [--runs 10] [--no-write]

Starts Visitt on a loopback port (SQLite) and coturn from Debian on another, with every call relayed
through coturn (``VISITT_ICE_TRANSPORT_POLICY=relay``), and a clinician's and a phone-sized patient's page
in Chromium with fake camera and microphone. Each run books, knocks, admits, waits for media both ways,
then cuts the patient off for 5 s the way a phone that loses its network is cut off:

- the media path goes: coturn is killed, so every relayed packet is lost and its allocations with it
  (when it comes back, ICE must gather new relay candidates: an ICE restart);
- the signaling socket goes: the server closes the patient's socket, and the patient's page is offline
  (Chromium's network emulation), so it cannot reconnect until the outage ends.

Then coturn starts again and the page is online. Timed: from the patient's page taking its place in the
call again (the resumed ``admitted``) until each page decodes new remote video frames (``framesDecoded``
growing), and from the network's return.

The headline (issue 21) is the same outage on an impaired link rather than loopback: on the namespace
network of tests/network.py (bench/networks.py's "5-s outage, 10 % loss, 150 ms" cell), the patient's link
cut for 5 s, --runs times, timed from the network's return until sound flows again on both sides. Skipped
(with the reason) where namespaces cannot be made. Prints p50/p95 and rewrites its section of
docs/performance.md. Target: ≤ 2 s p95 from the network's return.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import BrowserContext, Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.networks import IMPAIRED, one_call  # noqa: E402
from bench.report import percentile, write_section  # noqa: E402
from tests.browser import DESK, PHONE, sign_in, wait_for_media  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, make_settings  # noqa: E402
from tests.network import available, open_site  # noqa: E402
from tests.turnserver import SECRET, Coturn  # noqa: E402
from visitt.testing import LiveServer  # noqa: E402

OUTAGE_S = 5.0

# Leaves in window.backAt the wall-clock time the page takes its place in the call again.
WATCH_BACK = """() => {
  window.backAt = null;
  window.visittCall.signaling.on("admitted", (m) => { if (m.resumed) window.backAt = performance.timeOrigin + performance.now(); });
}"""
# Leaves in window.framesAt a promise of the wall-clock time the page decodes a remote frame it had not before.
WATCH_FRAMES = """() => {
  const decoded = async () => {
    let sum = 0;
    for (const {pc} of window.visittCall.peers.values())
      (await pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") sum += r.framesDecoded || 0; });
    return sum;
  };
  window.framesAt = decoded().then((start) => new Promise((resolve, reject) => {
    const until = Date.now() + 60000;
    const poll = async () => {
      if ((await decoded()) > start) { resolve(performance.timeOrigin + performance.now()); return; }
      if (Date.now() > until) { reject(new Error("no new remote frame within 60 s")); return; }
      setTimeout(poll, 20);
    };
    poll();
  }));
}"""


def one_run(server: LiveServer, coturn: Coturn, host: Page, patient: Page,
            phone: BrowserContext) -> tuple[float, float, float]:
    starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    booked = httpx.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                        json={"patient_name": "Bench Patient", "patient_phone": "+4741234567", "starts_at": starts})
    booked.raise_for_status()
    patient.goto(booked.json()["join_url"])
    patient.get_by_label("Your full name").fill("Bench Patient")
    patient.get_by_role("button", name="Join").click()
    host.locator("#waiting li .admit").click()
    wait_for_media(host)
    wait_for_media(patient)
    patient.evaluate(WATCH_BACK)

    coturn.kill()
    phone.set_offline(True)
    (dropped,) = [c for c in server.app.state.connections.open if c.role == "patient"]
    server.call(dropped.websocket.close(4000))
    time.sleep(OUTAGE_S)
    for page in (host, patient):
        page.evaluate(WATCH_FRAMES)  # no frame has come for seconds: the next one is the path back
    coturn.start()
    online = patient.evaluate("() => performance.timeOrigin + performance.now()")
    phone.set_offline(False)

    patient.wait_for_function("() => window.backAt !== null", timeout=30_000)
    back = patient.evaluate("() => window.backAt")
    host_ms = host.evaluate("() => window.framesAt") - back
    patient_ms = patient.evaluate("() => window.framesAt") - back
    host.get_by_role("button", name="End consultation").click()
    patient.get_by_text("The consultation has ended").wait_for()
    return host_ms, patient_ms, back - online


def impaired_outages(runs: int) -> list[float]:
    """Seconds from the network's return to sound flowing both ways, after ``runs`` 5-s outages of the
    patient's impaired link (three to a call)."""
    backs: list[float] = []
    with tempfile.TemporaryDirectory() as directory, open_site(Path(directory)) as site:
        while len(backs) < runs:
            backs += one_call(site, IMPAIRED, "outage", window=1, events=min(3, runs - len(backs)))["back"]
            print(f"impaired link: media back {', '.join(f'{back:.2f}' for back in backs)} s after the network", flush=True)
    return backs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    why = available()
    loads = [os.getloadavg()[0]]
    impaired = impaired_outages(args.runs) if why is None else []
    loads.append(os.getloadavg()[0])
    with tempfile.TemporaryDirectory() as data, sync_playwright() as playwright:
        coturn = Coturn(Path(data), min_port=50000, max_port=50999)
        coturn.start()
        settings = make_settings(Path(data), reconnect_grace=30.0, turn_secret=SECRET, turn_ttl=600,
                                 turn_urls=(coturn.url,),
                                 ice_transport_policy="relay")
        server = LiveServer(settings).start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            host = browser.new_context(**DESK).new_page()
            sign_in(host, server.url)
            phone = browser.new_context(**PHONE)
            patient = phone.new_page()
            results = []
            for run in range(args.runs):
                results.append(one_run(server, coturn, host, patient, phone))
                host_ms, patient_ms, socket_ms = results[-1]
                loads.append(os.getloadavg()[0])
                print(f"run {run + 1}: socket back {socket_ms:.0f} ms after the network, then clinician sees the "
                      f"patient after {host_ms:.0f} ms, patient the clinician after {patient_ms:.0f} ms", flush=True)
        finally:
            browser.close()
            server.stop()
            coturn.kill()
    host_ms = [r[0] for r in results]
    patient_ms = [r[1] for r in results]
    both = [max(r[:2]) for r in results]
    socket_ms = [r[2] for r in results]
    total = [max(r[:2]) + r[2] for r in results]
    headline = ([f"| **impaired link (10 % loss, 150 ms): network back → sound flowing again both ways** "
                 f"| {percentile(impaired, 0.5) * 1000:.0f} | {percentile(impaired, 0.95) * 1000:.0f} "
                 f"| {min(impaired) * 1000:.0f} | {max(impaired) * 1000:.0f} |"] if impaired
                else [f"| impaired link: not measured ({why}) | | | | |"])
    lines = headline + [f"| {label} | {percentile(v, 0.5):.0f} | {percentile(v, 0.95):.0f} | {min(v):.0f} | {max(v):.0f} |"
             for label, v in (("loopback: network back → both see each other again", total),
                              ("loopback: socket back → clinician sees patient again", host_ms),
                              ("loopback: socket back → patient sees clinician again", patient_ms),
                              ("loopback: socket back → both see each other again", both),
                              ("loopback: network back → socket back", socket_ms))]
    body = "\n".join([
        "## Reconnect: network back → media flowing again (`bench/reconnect.py`)",
        "",
        f"The headline: a 5-s outage of the patient's link on the namespace network of issue 21 (10 % loss and "
        f"150 ms round trip on that link, the patient's and the clinician's Chromium in namespaces of their own, "
        f"Visitt and coturn in a third), {len(impaired)} outages, timed from the network's return until sound "
        "flows again on both sides (the \"5-s outage, 10 % loss, 150 ms\" cell of [calls on impaired networks]"
        "(#calls-on-impaired-networks-benchnetworkspy)). Target: ≤ 2 s p95.",
        "",
        f"Below it, Chromium, two pages on loopback, every call relayed by coturn, {args.runs} runs. Each run cuts the "
        f"patient off for {OUTAGE_S:.0f} s: coturn killed (relayed media and allocations lost), the patient's "
        "socket closed by the server and the page offline. Then coturn is started and the page is online again. "
        "Timed from the patient's page taking its place again (resumed `admitted`) to the first newly decoded "
        "remote video frame on each page.",
        "",
        f"Load average (1 min) {min(loads):.1f}–{max(loads):.1f} during the run (the shared 2-core machine: at high "
        "load the browsers' timers and decoders run late, which no network causes).",
        "",
        "| ms | p50 | p95 | min | max |",
        "|---|---|---|---|---|",
        *lines,
    ])
    print(body)
    if not args.no_write:
        write_section("reconnect", body)


if __name__ == "__main__":
    main()
