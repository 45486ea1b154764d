"""Helpers for the Chromium end-to-end tests (no tests here)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyotp
from playwright.sync_api import Page, expect

from visitt import accounts, demo
from visitt.store.db import Database
from visitt.testing import LiveServer

from .eventually import eventually
from .peers import book

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "en-US"}
DESK = {"viewport": {"width": 1280, "height": 860}, "locale": "en-US"}

# Sums inbound RTP figures over every peer connection of the page's call.
INBOUND = """async () => {
  const call = window.visittCall;
  const out = {video: 0, audio: 0, peers: 0};
  if (!call) return out;
  for (const {pc} of call.peers.values()) {
    out.peers += 1;
    (await pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") out.video += r.framesDecoded || 0;
      if (r.type === "inbound-rtp" && r.kind === "audio") out.audio += r.packetsReceived || 0;
    });
  }
  return out;
}"""
# Marks the page's peer connections, and whether it still has those, each of them connected: a call
# taken up again on the same connections, not started afresh.
MARK_PEERS = "() => { for (const {pc} of window.visittCall.peers.values()) pc.marked = true; }"
SAME_PEERS = """() => {
  const peers = [...window.visittCall.peers.values()];
  return peers.length > 0 && peers.every(({pc}) => pc.marked && pc.connectionState === "connected");
}"""


def until(page: Page, expression: str, arg: Any = None, *, what: str, timeout: float = 30.0) -> Any:
    """``expression`` evaluated in ``page`` (given ``arg``) until it gives something true, which it returns.
    For an async expression or one that returns a promise (``getStats``): Playwright's ``wait_for_function``
    takes the promise itself for a true value and returns at once, so such a wait is polled from here."""
    return eventually(lambda: page.evaluate(expression, arg), f"{what} ({page.url})", timeout=timeout, interval=0.1)


def knock(page: Page, link: str, name: str) -> Page:
    """``page`` opens the invitation ``link`` and knocks as ``name``. Returns ``page``."""
    page.goto(link)
    page.locator("#name").fill(name)
    page.locator("#join").click()
    return page


def knock_and_admit(host: Page, page: Page, link: str, name: str) -> Page:
    """``page`` knocks (:func:`knock`); ``host`` lets them in from the waiting list (generous waits: a group call
    through Janus on a loaded machine). Returns ``page``."""
    knock(page, link, name)
    waiting = host.locator("#waiting li", has_text=name)
    waiting.locator(".admit").click(timeout=60000)
    waiting.wait_for(state="detached", timeout=30000)
    return page


def still_in_the_call(host: Page, guests: list[Page]) -> None:
    """Nobody knocked again: each guest's page still shows the call, and the host's waiting list is empty."""
    for page in guests:
        expect(page.locator("#call")).to_be_visible()
    expect(host.locator("#waiting li")).to_have_count(0)


def picture_grows(page: Page, timeout: float = 10.0) -> bool:
    """Whether the page decodes more than 5 further frames of the others' video within ``timeout`` s (a
    connection renewed meanwhile, by the page's own socket check on a loaded machine, counts from zero)."""
    start = int(page.evaluate(INBOUND)["video"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.wait_for_timeout(200)
        now = int(page.evaluate(INBOUND)["video"])
        start = min(start, now)
        if now > start + 5:
            return True
    return False


def give_second_factor(database: Database, email: str) -> pyotp.TOTP:
    """An authenticator app set up for ``email``'s account, as its owner would have done (an
    administrator must have one: ``visitt/second_factor.py``)."""
    secret = pyotp.random_base32()
    with database.session() as session:
        accounts.staff_by_email(session, email).totp_secret = secret
    return pyotp.TOTP(secret)


def sign_in(page: Page, base: str, email: str = demo.PEOPLE[0][0], totp: pyotp.TOTP | None = None) -> None:
    """Sign in as ``email``; with ``totp``, the account's second factor too."""
    page.goto(f"{base}/staff/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(demo.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if totp is not None:
        page.wait_for_url(f"{base}/staff/login/code")
        page.get_by_label("The six digits from your authenticator app, or a recovery code").fill(totp.now())
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/staff")


def link_in(sms_body: str) -> str:
    match = re.search(r"https?://\S+/v/[A-Za-z0-9_-]+", sms_body)
    assert match, sms_body
    return match.group(0)


def wait_for_media(page: Page, timeout: float = 20.0) -> dict[str, Any]:
    """Wait until the page decodes remote video frames and receives remote audio packets."""
    deadline = time.monotonic() + timeout
    stats: dict[str, Any] = {}
    while time.monotonic() < deadline:
        stats = page.evaluate(INBOUND)
        if stats["video"] > 0 and stats["audio"] > 0:
            return stats
        page.wait_for_timeout(100)
    raise AssertionError(f"no remote media on {page.url}: {stats}")


@contextmanager
def call_between(server: LiveServer, browser: Any, *, patient_locale: str = "en-US", name: str = "Kari Nordmann",
                 phone: dict[str, Any] | None = None) -> Iterator[tuple[Page, Page]]:
    """A clinician at a desk and a patient on a phone in a call with media flowing both ways:
    signed in, booked, knocked and admitted. Yields (clinician's page, patient's page)."""
    clinic = browser.new_context(**DESK)
    mobile = browser.new_context(**{**(phone or PHONE), "locale": patient_locale})
    try:
        host = clinic.new_page()
        sign_in(host, server.url)
        join_url, _token = book(server, name)
        patient = mobile.new_page()
        patient.goto(join_url)
        patient.locator("#name").fill(name)
        patient.locator("#join").click()
        host.locator("#waiting li", has_text=name).locator(".admit").click()
        wait_for_media(host)
        wait_for_media(patient)
        yield host, patient
    finally:
        clinic.close()
        mobile.close()


# Inbound RTP figures for each peer connection of the page's call, keyed by the other peer's id.
INBOUND_BY_PEER = """async () => {
  const call = window.visittCall;
  const out = {};
  if (!call) return out;
  for (const [id, {pc}] of call.peers.entries()) {
    const seen = {video: 0, audio: 0};
    (await pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") seen.video += r.framesDecoded || 0;
      if (r.type === "inbound-rtp" && r.kind === "audio") seen.audio += r.packetsReceived || 0;
    });
    out[id] = seen;
  }
  return out;
}"""


def wait_for_mesh(page: Page, others: int, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until the page decodes video frames and receives audio packets from each of ``others`` people."""
    deadline = time.monotonic() + timeout
    stats: dict[str, Any] = {}
    while time.monotonic() < deadline:
        stats = page.evaluate(INBOUND_BY_PEER)
        if len(stats) >= others and all(seen["video"] > 0 and seen["audio"] > 0 for seen in stats.values()):
            return stats
        page.wait_for_timeout(250)
    raise AssertionError(f"not every peer's media arrives on {page.url}: {stats}")


@contextmanager
def call_across(server: LiveServer, clinic_browser: Any, patient_browser: Any, *, base: str,
                name: str = "Kari Nordmann", timeout: float = 30.0) -> Iterator[tuple[Page, Page, float]]:
    """:func:`call_between` with the clinician and the patient in browsers of their own (each in its
    own network namespace, tests/network.py), both opening Visitt at ``base``. Yields (clinician's
    page, patient's page, seconds from the admit click until both pages receive media)."""
    clinic = clinic_browser.new_context(**DESK)
    mobile = patient_browser.new_context(**PHONE)
    for context in (clinic, mobile):
        context.set_default_timeout(timeout * 1000)  # a page over a slow link loads slowly
    try:
        host = clinic.new_page()
        sign_in(host, base)
        join_url, _token = book(server, name)
        patient = mobile.new_page()
        patient.goto(join_url)
        patient.locator("#name").fill(name)
        patient.locator("#join").click()
        admit = host.locator("#waiting li", has_text=name).locator(".admit")
        admit.wait_for(timeout=timeout * 1000)
        started = time.monotonic()
        admit.click()
        wait_for_media(host, timeout)
        wait_for_media(patient, timeout)
        yield host, patient, time.monotonic() - started
    finally:
        clinic.close()
        mobile.close()


# The selected candidate pair of the page's (first) peer connection: its local and remote candidates.
SELECTED = """async () => {
  for (const {pc} of window.visittCall.peers.values()) {
    const stats = await pc.getStats();
    for (const report of stats.values()) {
      if (report.type !== "transport" || !report.selectedCandidatePairId) continue;
      const pair = stats.get(report.selectedCandidatePairId);
      const local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
      return {local: local.candidateType, relayProtocol: local.relayProtocol || null, remote: remote.candidateType,
              state: pc.connectionState};
    }
  }
  return null;
}"""


# Audio as received: concealed and received samples (summed over the page's connections), and the
# codecs of the audio and video that arrive.
AUDIO = """async () => {
  const out = {concealed: 0, total: 0, recovered: 0, codec: null, fmtp: null, frames: 0, fps: null, width: null, height: null};
  for (const {pc} of window.visittCall.peers.values()) {
    const stats = await pc.getStats();
    stats.forEach((r) => {
      if (r.type !== "inbound-rtp") return;
      if (r.kind === "audio") {
        out.concealed += r.concealedSamples || 0;
        out.recovered += r.fecPacketsReceived || 0;  // Chromium counts packets rebuilt from RED here
        out.total += r.totalSamplesReceived || 0;
        const codec = stats.get(r.codecId);
        if (codec) { out.codec = codec.mimeType; out.fmtp = codec.sdpFmtpLine || ""; }
      } else {
        out.frames += r.framesDecoded || 0;
        out.fps = r.framesPerSecond ?? null;
        out.width = r.frameWidth ?? null;
        out.height = r.frameHeight ?? null;
      }
    });
  }
  return out;
}"""

# The codec listed first for audio in the local and the remote description (the one sent).
FIRST_AUDIO_CODEC = """() => {
  const {pc} = [...window.visittCall.peers.values()][0];
  const first = (sdp) => {
    const type = /^m=audio \\S+ \\S+ (\\d+)/m.exec(sdp)[1];
    return new RegExp(`^a=rtpmap:${type} ([^/]+)`, "m").exec(sdp)[1].toLowerCase();
  };
  return [first(pc.localDescription.sdp), first(pc.remoteDescription.sdp)];
}"""


def concealment(page: Page, seconds: float) -> tuple[float, dict[str, Any]]:
    """The share of audio samples concealed over the next ``seconds`` (0..1), and the readings' difference."""
    before = page.evaluate(AUDIO)
    page.wait_for_timeout(seconds * 1000)
    after = page.evaluate(AUDIO)
    difference = {key: after[key] - before[key] for key in ("concealed", "total", "recovered", "frames")}
    assert difference["total"] > 0, f"no audio received: {after}"
    return difference["concealed"] / difference["total"], {**after, **difference}


# Records on the page, every 50 ms, how much sound and picture has arrived (tests/browser.py INBOUND).
FLOW = """() => {
  if (window.visittFlow) return;
  window.visittFlow = [];
  // a: every audio packet received since, on any connection (a renewed connection's counter starts from zero:
  // its packets are added to the old one's, so the count only grows)
  const counted = new WeakMap();
  let packets = 0;
  const tick = async () => {
    const out = {t: Date.now(), a: 0, v: 0};
    try {
      for (const {pc} of window.visittCall.peers.values()) {
        // a closed connection's getStats() may never settle: a tick never waits more than 200 ms
        const stats = await Promise.race([pc.getStats(), new Promise((_, reject) => setTimeout(reject, 200))]);
        let audio = 0;
        stats.forEach((r) => {
          if (r.type === "inbound-rtp" && r.kind === "video") out.v += r.framesDecoded || 0;
          if (r.type === "inbound-rtp" && r.kind === "audio") audio += r.packetsReceived || 0;
        });
        packets += Math.max(0, audio - (counted.get(pc) || 0));
        counted.set(pc, audio);
      }
      out.a = packets;
    } catch { out.a = -1; }  // a connection closed meanwhile (renewed): no reading this time
    window.visittFlow.push(out);
    if (window.visittFlow.length > 4000) window.visittFlow.splice(0, 2000);
    setTimeout(tick, 50);
  };
  tick();
}"""


SUSTAIN_MS = 1000  # sound is back once it has flowed for this long (flowing_again)


def flowing_again(page: Page, since: float, timeout: float = 30.0, silent: bool = False) -> float:
    """Seconds from ``since`` (epoch seconds) until sound flows again on the page after a break,
    and keeps flowing for SUSTAIN_MS (FLOW's count of packets received, on the old connection and a
    renewed one alike); 0 when it never stopped. ``silent``: the sound is known to be stopped at
    ``since`` (the end of an outage)."""
    page.evaluate(FLOW)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticks = [tick for tick in page.evaluate("() => window.visittFlow")
                 if tick["t"] >= since * 1000 - 1500 and tick["a"] >= 0]
        # sound (50 packets a second, even from a muted microphone) over 250 ms or more: each tick against
        # the last one at least that long before it (a loaded browser's ticks come late: counted in ticks, a
        # window could span the whole break); the picture's rate depends on the machine's load, so it is
        # checked apart (picture_grows)
        def grew(index: int, window: int) -> bool | None:
            later = ticks[index]
            earlier = next((tick for tick in reversed(ticks[:index]) if tick["t"] <= later["t"] - window), None)
            return None if earlier is None else later["a"] > earlier["a"]

        start = since * 1000 - (0 if silent else 250)
        moving = [(index, flows) for index in range(len(ticks))
                  if ticks[index]["t"] >= start and (flows := grew(index, 250)) is not None]
        stopped = 0 if silent else next((n for n, (_index, flows) in enumerate(moving) if not flows), None)
        if stopped is None:
            if moving and ticks[moving[-1][0]]["t"] - since * 1000 > 1500:
                return 0.0
        elif moving and ticks[-1]["t"] >= ticks[moving[stopped][0]]["t"] + SUSTAIN_MS:
            # back: the first window with sound after which it keeps flowing for SUSTAIN_MS, with no gap of
            # 0.5 s or more (a few packets and then another silence, as when a restart or a renewal breaks
            # the path just taken up, is not back; a loaded browser's shorter stalls are not the network's)
            for index, flows in moving[stopped:]:
                t = ticks[index]["t"]
                if ticks[-1]["t"] < t + SUSTAIN_MS:
                    break
                if flows and all(grew(later, 500) is not False for later in range(index, len(ticks))
                                 if ticks[later]["t"] <= t + SUSTAIN_MS):
                    return max(0.0, t / 1000 - since)
        page.wait_for_timeout(200)
    raise AssertionError(f"media did not come back on {page.url}")
