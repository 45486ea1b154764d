"""Connection quality end to end in Chromium with fake camera and microphone.

In a real call both sides show "Connection: good" on the other's tile. Made-up poor figures fed to
the patient's classifier (through `window.visittQuality`, not the browser's WebRTC) bring up the
advice, the "Audio only" toggle and the clinic's phone number; pressing "Audio only" stops the
picture reaching the clinician (frames decoded stop growing) while the sound keeps flowing.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from visitt.testing import LiveServer

from .browser import INBOUND, call_between
from .eventually import eventually

pytestmark = pytest.mark.browser

POOR = "{loss: 12, rtt: 650, kbps: 90, videoKbps: 60}"
CLASSIFY = """() => {
  const q = window.visittQuality;
  const levels = [];
  q.addEventListener("quality", (e) => levels.push(e.detail.level), {once: false});
  for (const sample of [
    {loss: 0, rtt: 20, kbps: 900, videoKbps: 850},     // good
    {loss: 0, rtt: 20, kbps: 40, videoKbps: null},     // good: no picture (audio only) is not a bad line
    {loss: 3, rtt: 20, kbps: 900, videoKbps: 850},     // fair: loss
    {loss: 0, rtt: 250, kbps: 900, videoKbps: 850},    // fair: round trip
    {loss: 0, rtt: 20, kbps: 250, videoKbps: 200},     // fair: thin picture
    {loss: 6, rtt: 20, kbps: 900, videoKbps: 850},     // poor: loss
    {loss: 0, rtt: 500, kbps: 900, videoKbps: 850},    // poor: round trip
    {loss: 0, rtt: null, kbps: 120, videoKbps: 100},   // poor: starved picture
  ]) q.ingest("test", sample);
  return levels;
}"""


def growth(page: Page, ms: int = 2000) -> dict[str, int]:
    before = page.evaluate(INBOUND)
    page.wait_for_timeout(ms)
    after = page.evaluate(INBOUND)
    return {kind: after[kind] - before[kind] for kind in ("audio", "video")}


def test_indicators_advice_and_audio_only(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with call_between(server, browser) as (host, patient):

        # Each side rates the other's connection on the other's tile.
        for page in (host, patient):
            expect(page.locator("#tiles .tile:not(.self)").get_by_role("img", name="Connection: good")).to_be_visible(
                timeout=15_000)
            expect(page.get_by_role("button", name="Switch camera")).to_be_hidden()  # one fake camera only
            expect(page.get_by_text("The connection is poor.")).to_be_hidden()

        # The classification with the documented thresholds.
        assert patient.evaluate(CLASSIFY) == ["good", "good", "fair", "fair", "fair", "poor", "poor", "poor"]

        # A poor connection for three samples (6 s): advice, the toggle and the clinic's number.
        patient.evaluate("() => window.visittQuality.stop()")  # no real samples in between
        clinician = patient.evaluate("() => [...window.visittCall.peers.keys()][0]")
        patient.evaluate(f"() => window.visittQuality.ingest({clinician!r}, {POOR})")
        patient.evaluate(f"() => window.visittQuality.ingest({clinician!r}, {POOR})")
        expect(patient.get_by_text("The connection is poor.")).to_be_hidden()  # not yet: 4 s
        expect(patient.get_by_role("img", name="Connection: poor")).to_be_visible()
        patient.evaluate(f"() => window.visittQuality.ingest({clinician!r}, {POOR})")
        expect(patient.get_by_text("The connection is poor. Try moving closer to your Wi-Fi")).to_be_visible()
        phone_link = patient.get_by_role("link", name="+47")
        expect(phone_link).to_have_attribute("href", "tel:" + phone_link.inner_text().replace(" ", ""))

        # Audio only: the clinician stops receiving picture, the sound goes on.
        assert growth(host)["video"] > 0
        audio_only = patient.get_by_role("button", name="Audio only")
        expect(audio_only).to_have_attribute("aria-pressed", "false")
        audio_only.click()
        expect(audio_only).to_have_attribute("aria-pressed", "true")
        expect(patient.get_by_role("button", name="Camera", exact=True)).to_have_attribute("aria-pressed", "false")
        expect(host.locator("#tiles figure.camera-off")).to_have_count(1)  # told through the media message
        stopped = eventually(lambda: (lambda seen: seen if seen["video"] == 0 else None)(growth(host)),
                             "no picture reaches the clinician", timeout=15)
        assert stopped["audio"] > 0, stopped

        # And back: the picture flows again.
        audio_only.click()
        expect(audio_only).to_have_attribute("aria-pressed", "false")
        expect(host.locator("#tiles figure.camera-off")).to_have_count(0)
        eventually(lambda: growth(host)["video"] > 0, "the picture reaches the clinician again", timeout=15)
