"""Calls on impaired networks: the matrix of issue 21, on the namespace network of tests/network.py.

Each cell is one fresh call (clinician in the clinic's namespace, patient in the patient's, Visitt and
coturn in the server's) on a network impaired one way at a time from a clean one: loss 0/5/10/20 %,
round trip 50/150/300/600 ms, rate unlimited/1 Mbit/300 kbit, UDP open/blocked at the clinic, and
an address change and a 5-s outage mid-call. Per cell: admit → media on both sides, the audio
concealed at the patient and the clinician, the picture's frame rate and height at the patient, and
the bytes the patient's browser sends and receives per minute. Each cell runs ``--repeat`` times;
the table gives the range. ``--quick``: a subset with one run each. Needs root (namespaces).
Rewrites its section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section  # noqa: E402
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

CELLS: list[tuple[str, Impairment, str]] = [
    ("clean", Impairment(), ""),
    ("5 % loss", Impairment(loss=5), ""),
    ("10 % loss", Impairment(loss=10), ""),
    ("20 % loss", Impairment(loss=20), ""),
    ("50 ms RTT", Impairment(delay_ms=25), ""),
    ("150 ms RTT", Impairment(delay_ms=75), ""),
    ("300 ms RTT", Impairment(delay_ms=150), ""),
    ("600 ms RTT", Impairment(delay_ms=300), ""),
    ("1 Mbit/s", Impairment(rate_kbit=1000), ""),
    ("300 kbit/s + 150 ms", Impairment(rate_kbit=300, delay_ms=75), ""),
    ("UDP blocked at the clinic", Impairment(clinic_udp=False), ""),
    ("address change", Impairment(), "move"),
    ("5-s outage", Impairment(), "outage"),
]
QUICK = {"clean", "10 % loss", "20 % loss", "600 ms RTT", "300 kbit/s + 150 ms", "UDP blocked at the clinic",
         "address change", "5-s outage"}

EXPERIENCE = {
    "clean": "A normal video call.",
    "5 % loss": "Sound clean (lost packets rebuilt from the redundancy); picture may freeze briefly.",
    "10 % loss": "Sound mostly clean, the odd clipped syllable; picture at a lower rate.",
    "20 % loss": "Understandable speech with audible gaps; picture choppy. Audio only helps.",
    "50 ms RTT": "No difference from a clean line.",
    "150 ms RTT": "No noticeable delay in conversation.",
    "300 ms RTT": "Slight talk-over; people learn to pause.",
    "600 ms RTT": "Joining works; conversation feels like a satellite phone: wait for the other to finish.",
    "1 Mbit/s": "Good picture at a reduced size.",
    "300 kbit/s + 150 ms": "Clean sound, a small picture; the advice to try Audio only may appear.",
    "UDP blocked at the clinic": "No difference to the patient: the clinic's side goes through TURN over TLS on 443.",
    "address change": "A short freeze, then the call goes on by itself: no new knock.",
    "5-s outage": "The call freezes for the outage and resumes by itself when the network returns.",
}


def one_call(site: Site, impairment: Impairment, event: str, window: float) -> dict[str, Any]:
    site.net.impair(impairment)
    rtt = site.net.rtt(3)
    with call_across(site.server, site.clinic, site.patient, base=site.base, timeout=90) as (host, patient, admit):
        out: dict[str, Any] = {"admit": admit, "rtt": rtt, "pair": host.evaluate(SELECTED)}
        if event:
            for page in (host, patient):
                page.evaluate(FLOW)
            host.wait_for_timeout(2000)
            if event == "move":
                since = time.time()
                site.net.move_patient()
            else:
                site.net.cut(True)
                host.wait_for_timeout(5000)
                site.net.cut(False)
                since = time.time()
            out["back"] = max(flowing_again(page, since, timeout=60) for page in (host, patient))
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


def span(values: list[float], digits: int = 1) -> str:
    low, high = min(values), max(values)
    return f"{low:.{digits}f}" if round(low, digits) == round(high, digits) else f"{low:.{digits}f}–{high:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset of the cells, once each")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--window", type=float, default=10.0, help="seconds of each measurement")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    if (why := available()) is not None:
        sys.exit(f"bench/networks.py: {why}")
    repeat = 1 if args.quick else args.repeat
    cells = [cell for cell in CELLS if not args.quick or cell[0] in QUICK]
    rows = []
    with tempfile.TemporaryDirectory() as directory, open_site(Path(directory)) as site:
        for name, impairment, event in cells:
            runs = []
            for _ in range(repeat):
                try:
                    runs.append(one_call(site, impairment, event, args.window))
                except Exception as error:  # a cell that fails is a result too
                    print(f"{name}: failed: {error}", file=sys.stderr)
                    site.net.impair()
            print(name, runs, flush=True)
            if not runs:
                rows.append(f"| {name} | failed | | | | | | | {EXPERIENCE[name]} |")
                continue
            back = span([run["back"] for run in runs]) + " s" if event else "–"
            rows.append(
                f"| {name} | {span([run['rtt'] for run in runs], 0)} | {span([run['admit'] for run in runs])} s | {back} "
                f"| {span([run['concealed_patient'] for run in runs])} / {span([run['concealed_host'] for run in runs])} "
                f"| {span([run['fps'] for run in runs])} fps, {span([run['height'] for run in runs], 0)} px "
                f"| {span([run['up_mb_min'] for run in runs])} / {span([run['down_mb_min'] for run in runs])} "
                f"| {runs[-1]['pair']['local'] if runs[-1]['pair'] else '?'}"
                f"{'/' + runs[-1]['pair']['relayProtocol'] if runs[-1]['pair'] and runs[-1]['pair']['relayProtocol'] else ''} "
                f"| {EXPERIENCE[name]} |")
    body = "\n".join([
        "## Calls on impaired networks (`bench/networks.py`)",
        "",
        f"{'Quick subset, one run per cell' if args.quick else f'{repeat} runs per cell, ranges'}; "
        f"each a fresh call, measured over {args.window:.0f} s after 3 s to settle. RTT: measured patient ↔ server "
        "round trip (TCP handshakes). Concealed: % of audio samples concealed at the patient / the clinician. "
        "Picture: received at the patient. MB/min: the patient's browser, sent / received. Path: the clinician's "
        "selected local candidate. See [networks](networks.md).",
        "",
        "| Network (patient's link) | RTT ms | Admit → media | Media back | Concealed % | Picture | MB/min | Path "
        "| What a patient on such a network experiences |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(body)
    if not args.no_write:
        write_section("networks", body)


if __name__ == "__main__":
    main()
