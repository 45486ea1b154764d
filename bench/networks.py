"""Calls on impaired networks: the matrix of issue 21, on the namespace network of tests/network.py.

    python bench/networks.py [--quick] [--repeat 3] [--window 6] [--events 3] [--no-write]

Each run of a cell is one fresh call (clinician in the clinic's namespace, patient in the patient's,
Visitt and coturn in the server's) on the patient's link impaired as the cell says. The matrix:

- **loss × round trip**, every combination: loss 0/5/10/20 % each way × RTT 50/150/300/600 ms (rate
  unlimited, UDP open): the product, because loss and delay together are what a rural 4G link does;
- **rate**, at 150 ms: 1 Mbit/s and 300 kbit/s each way (unlimited is the product's 150-ms row);
- **UDP blocked at the clinic**, on a clean link and with 10 % loss at 150 ms on the patient's;
- **events** mid-call, each ``--events`` times per call: an address change with both addresses
  swapped at once (a Wi-Fi that vanishes) and with the new one up 3 s before the old goes (a phone
  whose 4G is up before its Wi-Fi drops), and a 5-s outage on a clean link and on an impaired one
  (10 % loss, 150 ms).

Per cell: admit → media on both sides, media back after an event (from the new address being up - with
"4G first", from the old one going - or the network's return; the later of the two sides), the audio concealed at the patient and the
clinician, the picture's frame rate and height at the patient, and the bytes the patient's browser
sends and receives per minute. Each cell runs ``--repeat`` times: p50 and p95 (nearest rank) of the
times, ranges of the rest. ``--quick``: a subset of the cells (QUICK), still ``--repeat`` times.
Needs root (namespaces). Rewrites its section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import percentile, write_section  # noqa: E402
from tests.browser import AUDIO, SELECTED, FLOW, call_across, flowing_again  # noqa: E402
from tests.network import Impairment, Site, available, open_site  # noqa: E402

# Bytes the page's browser has sent and received on its connections (every transport, so RTP, RTCP
# and the TURN and DTLS around them: what a phone's data plan is charged).
BYTES = """async () => {
  let sent = 0, received = 0;
  for (const {pc} of window.visittCall.peers.values()) {
    (await pc.getStats()).forEach((r) => {
      if (r.type === "transport") { sent += r.bytesSent || 0; received += r.bytesReceived || 0; }
    });
  }
  return [sent, received];
}"""

# Leaves in window.visittTrace every step of the page's recovery, as [wall-clock ms, what]: its sockets
# (made, open, closed), the signaling events that matter (reconnecting, welcome, resumed admission, the
# other side away and back), the offers and answers sent (and whether a socket carried them) and
# received, the watchdog's acts, and every connection's ICE state (a new connection: a renewal).
TRACE = """() => {
  if (window.visittTrace) return;
  const trace = window.visittTrace = [];
  const log = (what) => trace.push([Date.now(), what]);
  const Socket = window.WebSocket;
  let sockets = 0;
  window.WebSocket = class extends Socket {
    constructor(...args) {
      super(...args);
      const n = ++sockets;
      log(`socket ${n} made`);
      this.addEventListener("open", () => log(`socket ${n} open`));
      this.addEventListener("close", () => log(`socket ${n} closed`));
    }
  };
  const call = window.visittCall, signaling = call.signaling;
  const send = signaling.send.bind(signaling);
  signaling.send = (message) => {
    if (message.type === "signal" && message.description) {
      const open = signaling.socket && signaling.socket.readyState === Socket.OPEN;
      log(`${message.description.type} sent${open ? "" : " (LOST: no open socket)"}`);
    }
    if (message.type === "rejoin") log("rejoin sent");
    send(message);
  };
  const dispatch = signaling.dispatchEvent.bind(signaling);
  signaling.dispatchEvent = (event) => {
    const m = event.detail || {};
    if (["reconnecting", "welcome", "back", "away"].includes(event.type)) log(event.type);
    if (event.type === "admitted") log(m.resumed ? "admitted (resumed)" : "admitted (NEW admission)");
    if (event.type === "signal" && m.description) log(`${m.description.type} received`);
    return dispatch(event);
  };
  if (signaling.revive) {
    const revive = signaling.revive.bind(signaling);
    signaling.revive = () => {
      const socket = signaling.socket;
      const state = socket ? ["connecting", "open", "closing", "closed"][socket.readyState] : "none";
      log(`revive (socket ${state}, retry ${signaling.retry !== null}, checking ${signaling.checking}, opening ${Date.now() - signaling.openingSince} ms)`);
      revive();
    };
  }
  call.addEventListener("stuck", (e) => log(`watchdog: ${e.detail.renewing ? "renew" : "restart"}`));
  const seen = new WeakMap();
  let pcs = 0;
  setInterval(() => {
    for (const {pc} of call.peers.values()) {
      if (!seen.has(pc)) { seen.set(pc, {n: ++pcs, ice: ""}); log(`connection ${pcs} made`); }
      const s = seen.get(pc);
      if (s.ice !== pc.iceConnectionState) { s.ice = pc.iceConnectionState; log(`connection ${s.n} ice ${s.ice}`); }
    }
  }, 20);
}"""

LOSSES = (0, 5, 10, 20)
RTTS = (50, 150, 300, 600)
OUTAGE_S = 5
IMPAIRED = Impairment(loss=10, delay_ms=75)  # 10 % loss and 150 ms: a poor rural 4G link


def matrix() -> list[tuple[str, Impairment, str]]:
    """(name, impairment, event) per cell; event "" (none), "move", "move-early" or "outage"."""
    cells = [(f"{loss} % loss, {rtt} ms", Impairment(loss=loss, delay_ms=rtt / 2), "")
             for loss in LOSSES for rtt in RTTS]
    cells += [
        ("1 Mbit/s, 150 ms", Impairment(rate_kbit=1000, delay_ms=75), ""),
        ("300 kbit/s, 150 ms", Impairment(rate_kbit=300, delay_ms=75), ""),
        ("UDP blocked at the clinic", Impairment(clinic_udp=False), ""),
        ("UDP blocked, 10 % loss, 150 ms", Impairment(loss=10, delay_ms=75, clinic_udp=False), ""),
        ("address change, at once", Impairment(), "move"),
        ("address change, 4G first", Impairment(), "move-early"),
        ("5-s outage, clean link", Impairment(), "outage"),
        ("5-s outage, 10 % loss, 150 ms", IMPAIRED, "outage"),
    ]
    return cells


QUICK = {"0 % loss, 50 ms", "10 % loss, 50 ms", "20 % loss, 50 ms", "10 % loss, 150 ms", "0 % loss, 600 ms",
         "300 kbit/s, 150 ms", "UDP blocked at the clinic", "address change, at once", "address change, 4G first",
         "5-s outage, clean link", "5-s outage, 10 % loss, 150 ms"}

def experience(name: str, impairment: Impairment) -> str:
    """What a patient on such a network experiences, in a sentence."""
    if name.startswith("address change"):
        return "A short freeze, then the call goes on by itself: no new knock."
    if name.startswith("5-s outage"):
        return "The call freezes for the outage and resumes by itself when the network returns."
    if not impairment.clinic_udp:
        return "No difference to the patient: the clinic's side goes through TURN over TLS on 443."
    if impairment.rate_kbit == 300:
        return "Clean sound, a small picture; the advice to try Audio only appears."
    if impairment.rate_kbit:
        return "Good sound and picture; the picture may be smaller when others share the line."
    rtt = impairment.delay_ms * 2
    sound = {0: "Clean sound", 5: "Clean sound (lost packets rebuilt from the redundancy)",
             10: "Sound mostly clean, the odd clipped syllable", 20: "Understandable speech with audible gaps"}
    picture = {0: "a normal picture", 5: "a picture that may freeze briefly", 10: "a picture at a lower rate",
               20: "a choppy picture (Audio only helps)"}
    talk = ("no noticeable delay" if rtt <= 150 else "slight talk-over; people learn to pause" if rtt <= 300
            else "a satellite phone's delay: wait for the other to finish")
    return f"{sound[impairment.loss]}, {picture[impairment.loss]}; {talk}."


def one_call(site: Site, impairment: Impairment, event: str, window: float, events: int) -> dict[str, Any]:
    site.net.impair(impairment)
    rtt = site.net.rtt(3)
    with call_across(site.server, site.clinic, site.patient, base=site.base, timeout=90) as (host, patient, admit):
        out: dict[str, Any] = {"admit": admit, "rtt": rtt, "pair": host.evaluate(SELECTED)}
        out["back"] = []
        if event:
            for page in (host, patient):
                page.evaluate(FLOW)
                page.evaluate(TRACE)
            for _ in range(events):
                host.wait_for_timeout(2000)
                began = time.time()
                if event == "move":  # from the new address being up, the old one gone at the same moment
                    since = time.time()
                    site.net.move_patient()
                elif event == "move-early":  # the new one up 3 s before the old goes: from the old one going
                    site.net.move_patient(overlap=3)
                    since = time.time()
                else:
                    site.net.cut(True)
                    host.wait_for_timeout(OUTAGE_S * 1000)
                    since = time.time()  # before the rules change: the command's own time counts against us
                    site.net.cut(False)
                backs = {name: flowing_again(page, since, timeout=60, silent=event == "outage")
                         for name, page in (("clinician", host), ("patient", patient))}
                out["back"].append(max(backs.values()))
                for name, page in (("clinician", host), ("patient", patient)):
                    print(steps(name, page, began, since, backs[name]), file=sys.stderr, flush=True)
        host.wait_for_timeout(3000)  # the senders settle
        before = {name: page.evaluate(AUDIO) for name, page in (("host", host), ("patient", patient))}
        bytes_before = patient.evaluate(BYTES)
        host.wait_for_timeout(window * 1000)
        after = {name: page.evaluate(AUDIO) for name, page in (("host", host), ("patient", patient))}
        bytes_after = patient.evaluate(BYTES)
        for name in ("host", "patient"):
            total = after[name]["total"] - before[name]["total"]
            out[f"concealed_{name}"] = 100 * (after[name]["concealed"] - before[name]["concealed"]) / max(1, total)
        out["fps"] = (after["patient"]["frames"] - before["patient"]["frames"]) / window
        out["height"] = after["patient"]["height"] or 0
        out["up_mb_min"] = (bytes_after[0] - bytes_before[0]) / window * 60 / 1e6
        out["down_mb_min"] = (bytes_after[1] - bytes_before[1]) / window * 60 / 1e6
    site.net.impair()
    if site.net.patient_address != "10.201.1.2":
        site.net.move_patient()  # back for the next cell
    return out


def steps(name: str, page: Any, began: float, since: float, back: float) -> str:
    """The page's steps of one event (TRACE), in seconds from ``since`` (the network's return or the new
    address): from the event's start until a second after the sound came back."""
    trace = page.evaluate("() => window.visittTrace || []")
    shown = [f"{t / 1000 - since:+.2f} {what}" for t, what in trace
             if began * 1000 - 200 <= t <= (since + back + 2) * 1000]
    flow = page.evaluate("() => window.visittFlow || []")
    packets = []  # audio packets received per half second, from the event's start
    for start in range(int((began - since) * 2) - 1, int(back * 2) + 4):
        inside = [tick["a"] for tick in flow if tick["a"] >= 0 and start * 500 <= tick["t"] - since * 1000 < start * 500 + 500]
        packets.append(f"{max(inside) - min(inside)}" if inside else "?")
    return (f"  {name}: " + " | ".join([f"{began - since:+.2f} event", *shown, f"{back:+.2f} SOUND BACK"])
            + f"\n    audio packets per 0.5 s from {int((began - since) * 2 - 1) / 2:+.1f} s: {' '.join(packets)}")


def span(values: list[float], digits: int = 1) -> str:
    low, high = min(values), max(values)
    return f"{low:.{digits}f}" if round(low, digits) == round(high, digits) else f"{low:.{digits}f}–{high:.{digits}f}"


def p50_p95(values: list[float]) -> str:
    """Seconds as "p50 / p95" (nearest rank; with few values the p95 is the largest)."""
    return f"{percentile(values, 0.5):.1f} / {percentile(values, 0.95):.1f} s"


def within(limit: float, *sides: tuple[float, float], above: bool = False) -> str:
    """Whether (min, max) ranges, one per side, keep under ``limit`` (``above``: over it) in every call, or only
    in the best call of each side."""
    ok = (lambda value: value >= limit) if above else (lambda value: value <= limit)
    if all(ok(low) and ok(high) for low, high in sides):
        return "met in every call"
    if all(ok(high if above else low) for low, high in sides):
        return "met in the best call, not in every call"
    return "**not met**"


def target(impairment: Impairment, event: str, admit_p95: float, back_p95: float | None,
           concealed: list[tuple[float, float]], fps: tuple[float, float], failed: int) -> str:
    """The cell's target in issue 21 and whether it is met; "–" where the issue sets none."""
    if event:
        return f"media back ≤ 2 s p95: {'met' if back_p95 is not None and back_p95 <= 2 else '**not met**'}"
    if not impairment.clinic_udp:
        return f"admit → media ≤ 3 s: {'met' if admit_p95 <= 3 else '**not met**'}"
    if impairment.loss in (10, 20) and not impairment.rate_kbit:
        limit = 3 if impairment.loss == 10 else 10
        up = "" if impairment.loss == 10 else ("call up: met; " if not failed else f"call up: **{failed} failed**; ")
        return f"{up}concealed ≤ {limit} %: {within(limit, *concealed)}"
    if impairment.rate_kbit == 300:
        return f"≥ 10 fps: {within(10, fps, above=True)}"
    if impairment.delay_ms >= 300 and not impairment.loss:
        return "knock, admit, call work: " + ("met" if not failed else f"**{failed} failed**")
    return "–"


def row(name: str, impairment: Impairment, event: str, runs: list[dict[str, Any]], failed: int) -> str:
    if not runs:
        return f"| {name} | failed ×{failed} | | | | | | | {experience(name, impairment)} | **not met** |"
    backs = [back for run in runs for back in run["back"]]
    back = f"{p50_p95(backs)} (n={len(backs)}, max {max(backs):.1f})" if event else "–"
    concealed = [(min(values), max(values)) for values in ([run["concealed_patient"] for run in runs],
                                                           [run["concealed_host"] for run in runs])]
    verdict = target(impairment, event, percentile([run["admit"] for run in runs], 0.95),
                     percentile(backs, 0.95) if event else None, concealed,
                     (min(run["fps"] for run in runs), max(run["fps"] for run in runs)), failed)
    pair = runs[-1]["pair"] or {}
    path = (pair.get("local") or "?") + ("/" + pair["relayProtocol"] if pair.get("relayProtocol") else "")
    return (f"| {name} | {span([run['rtt'] for run in runs], 0)} | {p50_p95([run['admit'] for run in runs])} | {back} "
            f"| {span([run['concealed_patient'] for run in runs])} / {span([run['concealed_host'] for run in runs])} "
            f"| {span([run['fps'] for run in runs])} fps, {span([run['height'] for run in runs], 0)} px "
            f"| {span([run['up_mb_min'] for run in runs])} / {span([run['down_mb_min'] for run in runs])} "
            f"| {path}{f' ({failed} failed)' if failed else ''} | {experience(name, impairment)} | {verdict} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the cells in QUICK")
    parser.add_argument("--repeat", type=int, default=3, help="fresh calls per cell")
    parser.add_argument("--events", type=int, default=3, help="address changes or outages per call, in event cells")
    parser.add_argument("--window", type=float, default=6.0, help="seconds of each measurement")
    parser.add_argument("--only", help="only the cells whose name contains this")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    if (why := available()) is not None:
        sys.exit(f"bench/networks.py: {why}")
    # stopped with SIGTERM (a long run cut short): unwind, so the network, coturn and the browsers go
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench/networks.py: stopped"))
    cells = [cell for cell in matrix() if (not args.quick or cell[0] in QUICK) and (not args.only or args.only in cell[0])]
    cells.sort(key=lambda cell: cell[0] not in QUICK)  # the quick subset first: a run cut short still has it
    rows, loads = [], [os.getloadavg()[0]]
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as directory, open_site(Path(directory)) as site:
        for name, impairment, event in cells:
            runs, failed = [], 0
            for _ in range(args.repeat):
                try:
                    runs.append(one_call(site, impairment, event, args.window, args.events))
                except Exception as error:  # a cell that fails is a result too
                    failed += 1
                    print(f"{name}: failed: {error}", file=sys.stderr)
                    site.net.impair()
                    if site.net.patient_address != "10.201.1.2":
                        site.net.move_patient()
                loads.append(os.getloadavg()[0])
            rows.append(row(name, impairment, event, runs, failed))
            print(rows[-1], flush=True)
            # written after every cell: a run stopped early leaves what it measured
            report(args, rows, len(cells), loads, (time.monotonic() - started) / 60)


def report(args: argparse.Namespace, rows: list[str], cells: int, loads: list[float], minutes: float) -> None:
    scope = "The quick subset" if args.quick else "The whole matrix"
    if args.only:
        scope += f" (cells with “{args.only}”)"
    if len(rows) < cells:
        scope += f", {len(rows)} of its {cells} cells so far (the run was stopped or is still going)"
    body = "\n".join([
        "## Calls on impaired networks (`bench/networks.py`)",
        "",
        f"{scope}; {args.repeat} fresh calls per cell, each measured over {args.window:.0f} s after 3 s to settle; "
        f"events {args.events} times per call; {minutes:.0f} min in all, load average (1 min) "
        f"{min(loads):.1f}–{max(loads):.1f} during the run. Loss × RTT is the product (rate unlimited, UDP open); "
        "rate, UDP blocked and the events are one at a time. RTT: measured patient ↔ server round trip (TCP "
        "handshakes). Admit → media and media back: p50 / p95 (nearest rank: of 20 values or fewer, the p95 is the "
        "largest). Media back: sound flowing again on both sides, from the new address being up (4G first: from "
        "the old one going) or the network's return. Concealed: % of audio samples concealed at the patient / "
        "the clinician. Picture: received at the patient. MB/min: the patient's browser, sent / received. Path: "
        "the clinician's selected local candidate. Ranges are over the runs. See [networks](networks.md).",
        "",
        "| Network (patient's link) | RTT ms | Admit → media | Media back | Concealed % | Picture | MB/min | Path "
        "| What a patient on such a network experiences | Target (issue 21) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(body, flush=True)
    if not args.no_write:
        write_section("networks", body)


if __name__ == "__main__":
    main()
