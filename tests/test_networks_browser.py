"""Calls on impaired, filtered and changing networks: Chromium peers in network namespaces
(tests/network.py), Visitt and coturn in the server namespace, asserting on getStats().

One network for the module; each test sets the impairment it needs. The slower cells of the matrix
(and the timing figures that are too sensitive for a loaded test machine) are measured by
``bench/networks.py`` instead; docs/networks.md says which is which.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from playwright.sync_api import Page

from .browser import AUDIO, FIRST_AUDIO_CODEC, FLOW, SELECTED, call_across, concealment, flowing_again, picture_grows
from .network import Site, available, open_site

pytestmark = [pytest.mark.browser, pytest.mark.skipif(available() is not None, reason=str(available()))]

@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with open_site(tmp_path_factory.mktemp("network")) as built:
        yield built


def test_udp_blocked_at_the_clinic_connects_through_turn_over_tls_on_443(site: Site) -> None:
    site.net.impair(clinic_udp=False)
    with call_across(site.server, site.clinic, site.patient, base=site.base) as (host, patient, seconds):
        clinic_pair = host.evaluate(SELECTED)
        patient_pair = patient.evaluate(SELECTED)
        assert clinic_pair["local"] == "relay" and clinic_pair["relayProtocol"] == "tls", clinic_pair
        assert patient_pair["remote"] == "relay", patient_pair
        # The 3 s is measured by bench/networks.py (1.7 s on a quiet machine); on a loaded test
        # machine the test asserts only what holds with a margin.
        assert seconds < 20, f"media {seconds:.1f} s after the admit"


@pytest.fixture(scope="module")
def call(site: Site) -> Iterator[tuple[Page, Page]]:
    """One call over the open network, for the tests of loss, bandwidth and changes (each puts the network
    back as it found it)."""
    site.net.impair()
    with call_across(site.server, site.clinic, site.patient, base=site.base) as (host, patient, _seconds):
        yield host, patient


# What each page's quality monitor reads of its connection: the browser's outgoing estimate and why it
# holds back the picture it sends (quality.js's sendKbps), and the picture it sends.
SENDING = """async () => {
  const out = {estimate: null, reason: null, height: null, fps: null};
  for (const {pc} of window.visittCall.peers.values()) {
    (await pc.getStats()).forEach((r) => {
      if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") out.estimate = r.availableOutgoingBitrate ?? null;
      if (r.type === "outbound-rtp" && r.kind === "video") {
        out.reason = r.qualityLimitationReason ?? null; out.height = r.frameHeight ?? null; out.fps = r.framesPerSecond ?? null;
      }
    });
  }
  return out;
}"""


# Keeps what the page's quality monitor reports (window.qualitySeen), for the assertions' messages.
QUALITY_SEEN = """() => {
  if (window.qualitySeen) return;
  window.qualitySeen = [];
  window.visittQuality.addEventListener("quality", (event) => window.qualitySeen.push(event.detail));
}"""


def test_a_clean_network_brings_no_advice_for_sending(site: Site, call: tuple[Page, Page]) -> None:
    """The "Audio only" advice for a page whose line cannot carry its picture out is not for everyone: on
    the clean network, from the start of the call until well after the browsers' outgoing estimates are
    counted (quality.js RAMP_MS, 15 s) and the advice could have come (6 s of poor), neither page is rated
    worse for what it sends than for what it receives, so neither shows the advice for it. (The advice can
    still come from what arrives.) Skipped when the machine starves the browsers of CPU (sending under
    10 fps): then Chromium's own estimate of the clean line falls too (docs/networks.md)."""
    host, patient = call
    for page in (host, patient):
        page.evaluate(QUALITY_SEEN)
    seen = []
    for _ in range(50):  # 25 s
        seen.append([page.locator("#quality-advice").is_visible() for page in (host, patient)])
        host.wait_for_timeout(500)
    samples = [page.evaluate("() => window.qualitySeen") for page in (host, patient)]
    sending = [page.evaluate(SENDING) for page in (host, patient)]
    print("clean network: clinician sends", sending[0], "patient sends", sending[1], "advice seen (clinician, patient):",
          seen)
    if any((each["fps"] or 0) < 10 for each in sending):
        # At load ~77 the browsers sent 3-8 fps and Chromium's own estimate of the clean line fell to 150-250
        # kbit/s (the starved browsers' late packets look like a queue): no page can tell that from a thin line.
        pytest.skip(f"the machine starves the browsers (sending {[each['fps'] for each in sending]} fps)")
    for side, reports in zip(("clinician", "patient"), samples):
        assert len(reports) >= 8, reports  # a sample every 2 s
        held_back = [report for report in reports if report["level"] != report["incoming"]
                     or (report["sendKbps"] is not None and report["sendKbps"] < 800)]
        assert not held_back, f"the {side}'s page rated its sending on a clean network: {held_back}"


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
                # A 2-core test machine under load stalls a browser's audio now and then, which shows as
                # concealment no network caused: the best of a few short windows is what the network did.
                shares = []
                for _window in range(4):
                    share, _reading = concealment(page, 3)
                    shares.append(share)
                    if share <= limit:
                        break
                print(f"concealment at {loss} % loss, {side}: {', '.join(f'{share:.1%}' for share in shares)}")
                assert min(shares) <= limit, f"{min(shares):.1%} concealed at the {side} at {loss} % loss: {shares}"
    finally:
        site.net.impair()


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
    back = time.time()
    site.net.cut(False)
    outage = [flowing_again(page, back, silent=True) for page in (host, patient)]
    print("network change", change, "outage", outage)
    assert picture_grows(host) and picture_grows(patient)
    assert len(host.locator("#waiting li").all()) == knocks  # nobody knocked again
    # The 2 s p95 is measured by bench/networks.py: after a new address Chromium on Linux itself
    # waits 2 s before it uses it (docs/networks.md), and a loaded machine's browsers add to that. The test
    # asserts that both heal by themselves, well before the socket's own time-outs (minutes) or a watchdog's
    # renewal after 6 s of silence would have to step in.
    assert max(change) < 6 and max(outage) < 6, (change, outage)


def test_300_kbit_and_150_ms_keep_a_smaller_picture_moving(site: Site, call: tuple[Page, Page]) -> None:
    host, patient = call
    clean = patient.evaluate(AUDIO)
    # the clinician's camera: after the loss test a loaded machine may still be sending less than that
    clean["height"] = max(clean["height"] or 0,
                          host.evaluate("() => window.visittCall.local.getVideoTracks()[0].getSettings().height"))
    cap = host.evaluate("""() => [...window.visittCall.peers.values()][0].pc.getSenders()
      .filter((s) => s.track && s.track.kind === "video").map((s) => s.getParameters().encodings[0].maxBitrate)[0]""")
    assert cap is not None and cap <= 1_200_000, cap  # the room's cap, set once connected
    patient.evaluate(QUALITY_SEEN)
    try:
        site.net.impair(rate_kbit=300, delay_ms=75)
        rtt = site.net.rtt()
        results = []
        for _window in range(6):  # the senders' estimates settle on the new rate
            _share, reading = concealment(patient, 3)
            results.append((reading["frames"] / 3, reading["height"]))
            if reading["frames"] > 0 and reading["height"] and reading["height"] < clean["height"]:
                break
        # The struggling side is told: its browser holds back the picture it sends for want of bandwidth
        # (quality.js sendKbps), so after 6 s of that the advice with Audio only appears, whatever the
        # picture arriving from the clinic looks like.
        advice = patient.locator("#quality-advice")
        advice.wait_for(state="visible", timeout=40_000)
        assert advice.get_by_role("button", name="Audio only").is_visible()
        dot = patient.locator("#tiles .tile:not(.self) .quality").get_attribute("aria-label")
        print(f"300 kbit/s, {rtt:.0f} ms: fps and height {results} (clean {clean['height']}), patient sees {dot}, "
              f"sends {patient.evaluate(SENDING)}; the clinician sends {host.evaluate(SENDING)}; the patient's "
              f"last samples: {patient.evaluate('() => window.qualitySeen.slice(-4)')}")
        # fps >= 10 is measured by bench/networks.py: a loaded test machine decodes fewer frames than the
        # network carries. Here: the picture keeps moving at a reduced resolution.
        assert any(fps > 0 and height and height < clean["height"] for fps, height in results), results
        assert dot in ("Connection: fair", "Connection: poor"), dot
    finally:
        site.net.impair()


def test_600_ms_round_trip_knock_admit_and_call_work(site: Site) -> None:
    try:
        site.net.impair(delay_ms=300)
        rtt = site.net.rtt(3)
        assert rtt > 550, f"the network imposed {rtt:.0f} ms, not 600"
        with call_across(site.server, site.clinic, site.patient, base=site.base, timeout=60,
                         name="Ola Nordmann") as (host, patient, seconds):
            print(f"600 ms: media {seconds:.1f} s after the admit (measured round trip {rtt:.0f} ms)")
            assert picture_grows(patient) and picture_grows(host)
            # a socket check (as after a stall) keeps the healthy socket: its pong comes a round trip
            # after the ping, the new socket's welcome could only come three round trips after
            patient.evaluate("""() => {
              window.reconnects = 0;
              window.visittSignaling.addEventListener("reconnecting", () => { window.reconnects += 1; });
              window.visittSignaling.check();
            }""")
            host.wait_for_timeout(3000)
            # nothing timed out meanwhile: still in the call, no reconnecting notice
            assert patient.evaluate("() => window.visittCall.peers.size") == 1
            assert patient.evaluate("() => window.reconnects") == 0
    finally:
        site.net.impair()
