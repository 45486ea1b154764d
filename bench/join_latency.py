"""Joining, Chromium on loopback: SMS link opened → knocked, and admit click → first remote video frame.

    python bench/join_latency.py [--runs 10] [--knock-runs 10]

Starts Visitt on a loopback port (SQLite), one clinician page and phone-sized patient pages in
Debian's Chromium with fake camera and microphone.

- Link → knocked: each run opens a new booking's SMS link in a fresh phone context (nothing
  cached, as on a phone that has never seen the site) and times the page's load event, the device
  check (the camera preview shows a picture), the name typed, and the knock acknowledged (the page
  shows the waiting room: the socket opened, said hello, knocked and heard ``waiting``). Timed from
  the script, so each step includes a few milliseconds of Playwright's own round trip.
- Admit → first frame: each run books, knocks, admits and times from the click on "Admit" to the
  first remote frame each page paints (requestVideoFrameCallback), then ends the consultation.

Prints p50/p95 and rewrites its section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import percentile, write_section  # noqa: E402
from tests.browser import DESK, PHONE, sign_in  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, make_settings  # noqa: E402
from visitt.testing import LiveServer  # noqa: E402

# Leaves in window.firstFrame a promise of the wall-clock time the page first paints a remote video frame.
FIRST_FRAME = """() => { window.firstFrame = new Promise((resolve, reject) => {
  setTimeout(() => reject(new Error("no remote frame within 15 s")), 15000);
  const watch = (video) => video.requestVideoFrameCallback((now) => resolve(performance.timeOrigin + now));
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


def book(server: LiveServer) -> str:
    starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    booked = httpx.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                        json={"patient_name": "Bench Patient", "patient_phone": "+4741234567", "starts_at": starts})
    booked.raise_for_status()
    return str(booked.json()["join_url"])


def knock_run(server: LiveServer, browser: Browser) -> dict[str, float]:
    """SMS link opened in a fresh phone → knocked: milliseconds from the start to each milestone."""
    join_url = book(server)
    context = browser.new_context(**PHONE)
    try:
        patient = context.new_page()
        opened = time.perf_counter()
        patient.goto(join_url)  # returns at the load event
        loaded = time.perf_counter()
        patient.wait_for_function("() => document.querySelector('#preview').videoWidth > 0", polling="raf")
        devices = time.perf_counter()
        patient.get_by_label("Your full name").fill("Bench Patient")
        typed = time.perf_counter()
        patient.get_by_role("button", name="Join").click()
        patient.locator("#knock-form").wait_for(state="hidden")
        knocked = time.perf_counter()
    finally:
        context.close()
    return {step: (at - opened) * 1000 for step, at in
            (("page loaded", loaded), ("camera preview shows", devices), ("name typed", typed), ("knocked", knocked))}


def one_run(server: LiveServer, host: Page, patient: Page) -> tuple[float, float]:
    patient.goto(book(server))
    patient.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
    patient.get_by_label("Your full name").fill("Bench Patient")
    patient.get_by_role("button", name="Join").click()
    host.locator("#waiting li .admit").wait_for()
    host.evaluate(FIRST_FRAME)
    patient.evaluate(FIRST_FRAME)
    clicked = host.evaluate(CLICK_ADMIT)
    host_ms = host.evaluate("() => window.firstFrame") - clicked
    patient_ms = patient.evaluate("() => window.firstFrame") - clicked
    host.get_by_role("button", name="End consultation").click()
    patient.get_by_text("The consultation has ended").wait_for()
    return host_ms, patient_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="admit → first frame runs")
    parser.add_argument("--knock-runs", type=int, default=10, help="link opened → knocked runs")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data, sync_playwright() as playwright:
        server = LiveServer(make_settings(Path(data))).start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            host = browser.new_context(**DESK).new_page()
            sign_in(host, server.url)
            patient = browser.new_context(**PHONE).new_page()
            one_run(server, host, patient)  # warm-up: first getUserMedia, codec set-up
            results = [one_run(server, host, patient) for _ in range(args.runs)]
            knocks = [knock_run(server, browser) for _ in range(args.knock_runs)]
        finally:
            browser.close()
            server.stop()
    host_ms = [r[0] for r in results]
    patient_ms = [r[1] for r in results]
    both = [max(r) for r in results]
    lines = [f"| {label} | {percentile(v, 0.5):.0f} | {percentile(v, 0.95):.0f} | {min(v):.0f} | {max(v):.0f} |"
             for label, v in (("clinician sees patient", host_ms), ("patient sees clinician", patient_ms),
                              ("both see each other", both))]
    steps = []
    for step in knocks[0]:
        v = [run[step] for run in knocks]
        steps.append(f"| {step} | {percentile(v, 0.5):.0f} | {percentile(v, 0.95):.0f} | {min(v):.0f} | {max(v):.0f} |")
    body = "\n".join([
        "## Join latency (`bench/join_latency.py`)",
        "",
        "### SMS link opened → knocked",
        "",
        f"Chromium, a fresh phone-sized context each time (nothing cached), fake camera and microphone, "
        f"{args.knock_runs} runs; milliseconds from opening the link to each step. \"Knocked\": the page shows the "
        "waiting room, the server having acknowledged the knock. The name is typed by the script at once.",
        "",
        "| ms from link opened | p50 | p95 | min | max |",
        "|---|---|---|---|---|",
        *steps,
        "",
        "### Admit → first remote frame",
        "",
        f"Chromium, two pages on loopback, fake camera and microphone, {args.runs} runs after one warm-up. "
        "Includes the clinician's `getUserMedia` at the click (the clinician's camera starts when they admit). "
        "Target: ≤ 300 ms p50.",
        "",
        "| ms | p50 | p95 | min | max |",
        "|---|---|---|---|---|",
        *lines,
    ])
    print(body)
    if not args.no_write:
        write_section("join_latency", body)


if __name__ == "__main__":
    main()
