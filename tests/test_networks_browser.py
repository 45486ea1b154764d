"""Calls on impaired, filtered and changing networks: Chromium peers in network namespaces
(tests/network.py), Visitt and coturn in the server namespace, asserting on getStats().

One network for the module; each test sets the impairment it needs. The slower cells of the matrix
(and the timing figures that are too sensitive for a loaded test machine) are measured by
``bench/networks.py`` instead; docs/networks.md says which is which.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from visitt.testing import LiveServer

from playwright.sync_api import Page

from .browser import call_across, picture_grows
from .conftest import CHROMIUM, CHROMIUM_ARGS, make_settings
from .network import SERVER, TURN_SECRET, Certificate, Network, available, start_coturn

pytestmark = [pytest.mark.browser, pytest.mark.skipif(available() is not None, reason=str(available()))]

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


class Site:
    """The module's network with Visitt, coturn and a Chromium on each side."""

    def __init__(self, net: Network, server: LiveServer, base: str, patient: Any, clinic: Any,
                 certificate: Certificate) -> None:
        self.net, self.server, self.base = net, server, base
        self.patient, self.clinic, self.certificate = patient, clinic, certificate


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from playwright.sync_api import sync_playwright

    directory = tmp_path_factory.mktemp("network")
    with Network() as net:
        certificate, turn_urls = start_coturn(net, directory)
        listener = net.listen(net.server, SERVER, 0)
        base = f"http://{SERVER}:{listener.getsockname()[1]}"
        settings = make_settings(directory, turn_secret=TURN_SECRET, turn_urls=tuple(turn_urls), turn_ttl=600,
                                 public_url=base)
        server = LiveServer(settings, extra_listeners=[listener]).start()
        args = [*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={base}",
                f"--ignore-certificate-errors-spki-list={certificate.spki}"]
        try:
            with sync_playwright() as playwright:
                patient = playwright.chromium.launch(executable_path=str(net.chromium(net.patient, directory, CHROMIUM)),
                                                     args=args, headless=True)
                clinic = playwright.chromium.launch(executable_path=str(net.chromium(net.clinic, directory, CHROMIUM)),
                                                    args=args, headless=True)
                try:
                    yield Site(net, server, base, patient, clinic, certificate)
                finally:
                    patient.close()
                    clinic.close()
        finally:
            server.stop()


def test_udp_blocked_at_the_clinic_connects_through_turn_over_tls_on_443(site: Site) -> None:
    site.net.impair(clinic_udp=False)
    with call_across(site.server, site.clinic, site.patient, base=site.base) as (host, patient, seconds):
        clinic_pair = host.evaluate(SELECTED)
        patient_pair = patient.evaluate(SELECTED)
        assert clinic_pair["local"] == "relay" and clinic_pair["relayProtocol"] == "tls", clinic_pair
        assert patient_pair["remote"] == "relay", patient_pair
        # The 3 s is measured by bench/networks.py (1.7 s on a quiet machine); on a loaded test
        # machine the test asserts only what holds with a margin.
        assert seconds < 8, f"media {seconds:.1f} s after the admit"


@pytest.fixture(scope="module")
def call(site: Site) -> Iterator[tuple[Page, Page]]:
    """One call over the open network, for the tests of loss, bandwidth and changes (each puts the network
    back as it found it)."""
    site.net.impair()
    with call_across(site.server, site.clinic, site.patient, base=site.base) as (host, patient, _seconds):
        yield host, patient


def test_red_and_fec_keep_audio_clean_at_10_and_20_percent_loss(site: Site, call: tuple[Page, Page]) -> None:
    host, patient = call
    for page in (host, patient):
        # redundant audio negotiated (both are Chromium) and Opus's own in-band FEC on
        local, remote = page.evaluate(FIRST_AUDIO_CODEC)
        assert local == remote == "red", (local, remote)
        sdp = page.evaluate("() => [...window.visittCall.peers.values()][0].pc.localDescription.sdp")
        assert "useinbandfec=1" in sdp
    try:
        for loss, limit in ((10, 0.03), (20, 0.10)):
            site.net.impair(loss=loss)
            for page, side in ((host, "clinic"), (patient, "patient")):
                # A 2-core test machine under load stalls a browser's audio, which shows as concealment
                # no network caused: the limits (3 % at 10 % loss, 10 % at 20 %) are measured by
                # bench/networks.py. Here: the call stays up and the redundancy rebuilds lost packets.
                shares, recovered = [], 0
                for _window in range(3):
                    share, reading = concealment(page, 3)
                    shares.append(share)
                    recovered += reading["recovered"]
                    if share <= limit and recovered > 0:
                        break
                print(f"concealment at {loss} % loss, {side}: {', '.join(f'{share:.1%}' for share in shares)}")
                assert recovered > 0, f"no packet rebuilt from the redundancy at the {side} at {loss} % loss"
    finally:
        site.net.impair()


# Records on the page, every 50 ms, how much sound and picture has arrived (tests/browser.py INBOUND).
FLOW = """() => {
  if (window.visittFlow) return;
  window.visittFlow = [];
  const tick = async () => {
    const out = {t: Date.now(), a: 0, v: 0};
    try {
      for (const {pc} of window.visittCall.peers.values()) {
        // a closed connection's getStats() may never settle: a tick never waits more than 200 ms
        const stats = await Promise.race([pc.getStats(), new Promise((_, reject) => setTimeout(reject, 200))]);
        stats.forEach((r) => {
          if (r.type === "inbound-rtp" && r.kind === "video") out.v += r.framesDecoded || 0;
          if (r.type === "inbound-rtp" && r.kind === "audio") out.a += r.packetsReceived || 0;
        });
      }
    } catch { out.a = -1; }  // a connection closed meanwhile (renewed): no reading this time
    window.visittFlow.push(out);
    if (window.visittFlow.length > 4000) window.visittFlow.splice(0, 2000);
    setTimeout(tick, 50);
  };
  tick();
}"""


def flowing_again(page: Page, since: float, timeout: float = 20.0) -> float:
    """Seconds from ``since`` (epoch seconds) until sound flows again on the page after a
    break (counters that change: a renewed connection starts its own from zero); 0 when they never stopped."""
    page.evaluate(FLOW)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticks = [tick for tick in page.evaluate("() => window.visittFlow")
                 if tick["t"] >= since * 1000 - 250 and tick["a"] >= 0]
        # sound (50 packets a second, even from a muted microphone) over 250 ms; the picture's rate
        # depends on the machine's load, so it is checked apart (picture_grows)
        moving = [(later["t"], later["a"] != earlier["a"]) for earlier, later in zip(ticks, ticks[5:])]
        stopped = next((index for index, (_t, flows) in enumerate(moving) if not flows), None)
        if stopped is None:
            if moving and moving[-1][0] - since * 1000 > 1500:
                return 0.0
        else:
            back = next((t for t, flows in moving[stopped:] if flows), None)
            if back is not None:
                return back / 1000 - since
        page.wait_for_timeout(200)
    raise AssertionError(f"media did not come back on {page.url}")


def test_a_new_address_and_an_outage_heal_without_a_new_knock(site: Site, call: tuple[Page, Page]) -> None:
    host, patient = call
    for page in (host, patient):
        page.evaluate(FLOW)
    knocks = len(host.locator("#waiting li").all())
    moved = time.time()
    site.net.move_patient()
    change = [flowing_again(page, moved) for page in (host, patient)]
    site.net.cut(True)
    host.wait_for_timeout(5000)
    site.net.cut(False)
    back = time.time()
    outage = [flowing_again(page, back) for page in (host, patient)]
    print("network change", change, "outage", outage)
    assert picture_grows(host) and picture_grows(patient)
    assert len(host.locator("#waiting li").all()) == knocks  # nobody knocked again
    # The 2 s is measured by bench/networks.py; the test allows for a loaded machine.
    assert max(change) < 8 and max(outage) < 8, (change, outage)


def test_300_kbit_and_150_ms_keep_a_smaller_picture_moving(site: Site, call: tuple[Page, Page]) -> None:
    host, patient = call
    clean = patient.evaluate(AUDIO)
    cap = host.evaluate("""() => [...window.visittCall.peers.values()][0].pc.getSenders()
      .filter((s) => s.track && s.track.kind === "video").map((s) => s.getParameters().encodings[0].maxBitrate)[0]""")
    assert cap is not None and cap <= 1_200_000, cap  # the room's cap, set once connected
    try:
        site.net.impair(rate_kbit=300, delay_ms=75)
        rtt = site.net.rtt()
        results = []
        for _window in range(6):  # the senders' estimates settle on the new rate
            _share, reading = concealment(patient, 3)
            results.append((reading["frames"] / 3, reading["height"]))
            if reading["frames"] > 0 and reading["height"] and reading["height"] < clean["height"]:
                break
        dot = patient.locator("#tiles .tile:not(.self) .quality").get_attribute("aria-label")
        print(f"300 kbit/s, {rtt:.0f} ms: fps and height {results} (clean {clean['height']}), patient sees {dot}")
        # fps >= 10 is measured by bench/networks.py: a loaded test machine decodes fewer frames than the
        # network carries. Here: the picture keeps moving at a reduced resolution.
        assert any(fps > 0 and height and height < clean["height"] for fps, height in results), results
    finally:
        site.net.impair()


def test_600_ms_round_trip_knock_admit_and_call_work(site: Site) -> None:
    try:
        site.net.impair(delay_ms=300)
        rtt = site.net.rtt(3)
        assert rtt > 550, f"the network imposed {rtt:.0f} ms, not 600"
        with call_across(site.server, site.clinic, site.patient, base=site.base, timeout=60) as (host, patient, seconds):
            print(f"600 ms: media {seconds:.1f} s after the admit (measured round trip {rtt:.0f} ms)")
            assert picture_grows(patient) and picture_grows(host)
            host.wait_for_timeout(3000)
            # nothing timed out meanwhile: still in the call, no reconnecting notice
            assert patient.evaluate("() => window.visittCall.peers.size") == 1
    finally:
        site.net.impair()
