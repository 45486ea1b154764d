"""A group call through Janus when Janus restarts: how soon the pages say so, and how soon media is back.

    python bench/sfu_recovery.py [--runs 5] [--down 3] [--hang] [--no-write]

Starts Visitt on a loopback port (SQLite) and Debian's Janus on others, and a group consultation of three
Chromium pages (the clinician's, the patient's and the companion's, fake camera and microphone, each encrypting
its frames end to end), as tests/test_sfu_recovery_browser.py does. Each run stops Janus, keeps it down for
--down seconds, and starts it again on the same ports. With ``--hang``, Janus hangs instead: stopped with SIGSTOP
(its port still accepts connections, nothing answers) and continued with SIGCONT. Timed on each page (wall clock,
in the page):

- Janus stopped → the page says the media server was lost (``sfu_server`` ``lost``);
- Janus started (its API answering this script's poll, every 50 ms; with ``--hang``, SIGCONT sent) → the page says
  the call is connected again (``sfu_server`` ``back``; Visitt's own attempt may reach Janus a moment before this
  script's poll does, hence a slightly negative figure now and then);
- Janus started → the page decodes 5 new frames from both others (on its new connections).

Prints p50 and the range over every page of every run, and rewrites its section of docs/performance.md
(``sfu_recovery``, or ``sfu_hang`` with ``--hang``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import percentile, write_section  # noqa: E402
from tests.browser import DESK, knock_and_admit, sign_in, until  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, make_settings  # noqa: E402
from tests.janus import SECRET, JanusServer  # noqa: E402
from tests.test_sfu import _book_group  # noqa: E402
from visitt.testing import LiveServer  # noqa: E402

# Leaves in window.recovery the wall-clock times (ms) at which the page said "lost", said "back", and, after
# "back", decoded 5 new frames from each of the others.
WATCH = """(others) => {
  const now = () => performance.timeOrigin + performance.now();
  const status = document.getElementById("call-status");
  const times = window.recovery = { lost: 0, back: 0, frames: 0 };
  new MutationObserver(() => {
    const text = status.textContent || "";
    if (!times.lost && text.includes("media server was lost")) times.lost = now();
    if (times.lost && !times.back && text.includes("connected again")) { times.back = now(); frames(); }
  }).observe(status, { childList: true, characterData: true, subtree: true });
  const frames = async () => {
    while (!times.frames) {
      const decoded = [];
      for (const { pc } of window.visittCall.peers.values()) {
        let count = 0;
        (await pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") count += r.framesDecoded || 0; });
        decoded.push(count);
      }
      if (decoded.length === others && decoded.every((count) => count >= 5)) times.frames = now();
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
}"""


STATE = """async () => {
  const call = window.visittCall;
  const peers = {};
  for (const [id, { pc, video }] of call.peers) {
    let frames = 0;
    (await pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") frames += r.framesDecoded || 0; });
    peers[id] = { state: pc.connectionState, remote: Boolean(pc.remoteDescription), video, frames };
  }
  return { recovery: window.recovery, sending: call.sending?.connectionState, published: call.published, peers,
           status: document.getElementById("call-status").textContent };
}"""


def decodes_everyone(page: Page, others: int, timeout: float = 120.0) -> None:
    until(page, """(others) => Promise.all([...window.visittCall.peers.values()].map(async ({ pc }) => {
        let count = 0;
        (await pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") count += r.framesDecoded || 0; });
        return count;
      })).then((counts) => counts.length === others && counts.every((count) => count > 30))""",
          others, what=f"30 frames decoded from each of {others}", timeout=timeout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--down", type=float, default=3.0, help="seconds Janus stays down in each run")
    parser.add_argument("--hang", action="store_true",
                        help="Janus hangs (SIGSTOP, then SIGCONT) instead of stopping and starting again")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    lost: list[float] = []
    back: list[float] = []
    frames: list[float] = []
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        janus = JanusServer(Path(scratch) / "janus")
        janus.start()
        server = LiveServer(make_settings(Path(scratch), janus_url=janus.url, janus_api_secret=SECRET)).start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            patient_token, companion_token = _book_group(server)
            host = browser.new_context(**DESK).new_page()
            host.set_default_timeout(120000)  # generous: the figures are the point, not the page loads
            sign_in(host, server.url)
            pages = [host]
            for token, name in ((patient_token, "Kari Nordmann"), (companion_token, "Ola Nordmann")):
                page = browser.new_context(**DESK).new_page()
                page.set_default_timeout(120000)
                pages.append(knock_and_admit(host, page, f"{server.url}/v/{token}", name))
            for page in pages:
                decodes_everyone(page, 2)
            for run in range(args.runs):
                for page in pages:
                    page.evaluate(WATCH, 2)
                stopped = time.time() * 1000
                if args.hang:
                    assert janus.process is not None
                    janus.process.send_signal(signal.SIGSTOP)
                else:
                    janus.stop()
                for page in pages:
                    page.wait_for_function("() => window.recovery.lost > 0", timeout=60000)
                time.sleep(args.down)
                answering = time.time() * 1000
                if args.hang:
                    assert janus.process is not None
                    janus.process.send_signal(signal.SIGCONT)
                else:
                    janus.start()
                    answering = time.time() * 1000
                for number, page in enumerate(pages):
                    try:
                        page.wait_for_function("() => window.recovery.frames > 0", timeout=120000)
                    except Exception:
                        print("stuck", number, page.evaluate(STATE), flush=True)
                        raise
                    times = page.evaluate("() => window.recovery")
                    lost.append((times["lost"] - stopped) / 1000)
                    back.append((times["back"] - answering) / 1000)
                    frames.append((times["frames"] - answering) / 1000)
                print(f"run {run + 1}: lost {lost[-3:]}, back {back[-3:]}, frames {frames[-3:]}", flush=True)
        finally:
            browser.close()
            server.stop()
            janus.stop()

    def spread(values: list[float]) -> str:
        return f"{percentile(values, 0.5):.2f} s (range {min(values):.2f}–{max(values):.2f} s)"

    if args.hang:
        body = f"""## Group call when Janus hangs (`bench/sfu_recovery.py --hang`)

Three Chromium pages (clinician, patient, companion; frames encrypted end to end) in a group call through Janus;
Janus stopped with SIGSTOP (its port still accepts connections; nothing answers), kept so {args.down:g} s, then
continued (SIGCONT); {args.runs} runs on one call, timed on each page ({len(lost)} samples). p50 and range:

| From → to | p50 (range) |
|---|---|
| Janus hangs → the page says the media server was lost | {spread(lost)} |
| Janus continues → the page says the call is connected again | {spread(back)} |
| Janus continues → the page decodes 5 new frames from both others | {spread(frames)} |

What the figures are made of: the notice, `SILENCE` (2 s) in which Janus answered nothing, counted from its last
answer (a keepalive goes every 0.5 s); back, the new session Visitt asked for while Janus hung, answered once it
continues, and a new room per call; frames, as when Janus restarts."""
        section = "sfu_hang"
    else:
        body = f"""## Group call when Janus restarts (`bench/sfu_recovery.py`)

Three Chromium pages (clinician, patient, companion; frames encrypted end to end) in a group call through Janus;
Janus stopped, kept down {args.down:g} s, started again on the same ports; {args.runs} runs on one call, timed on
each page ({len(lost)} samples). p50 and range:

| From → to | p50 (range) |
|---|---|
| Janus stopped → the page says the media server was lost | {spread(lost)} |
| Janus started → the page says the call is connected again | {spread(back)} |
| Janus started → the page decodes 5 new frames from both others | {spread(frames)} |

What the figures are made of: the notice, `LOST_AFTER` (2 s) of failing polls, or `SILENCE` (2 s) without an
answer, whichever comes first; back, Visitt's next attempt (every 2 s, `RETRY`) plus a new session and room;
frames, each page's new publish (ICE gathering, up to 3 s), Janus's `webrtcup`, then the others' subscriptions. The
machine is shared: see the load below; one run of the first measurement (load ~60) took 43–45 s to frames on all
three pages, not explained yet."""
        section = "sfu_recovery"
    print(body)
    if not args.no_write:
        write_section(section, body)


if __name__ == "__main__":
    main()
