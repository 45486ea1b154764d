"""A patient's browser without what Safari on an iPhone lacks, played by Chromium: the call still works.

Safari cannot run here. What the page must not assume, it is made to miss: the patient's Chromium
says it is Safari on an iPhone (its user agent), has no ``setSinkId`` (no loudspeaker choice on iOS)
and no ``getDisplayMedia`` (no sharing on iOS), and refuses to start a video with sound outside a tap,
as iOS Safari does. Chromium can encode and decode H.264, as Safari does in hardware, so the codec the
two sides agree on is visible in their statistics. docs/browsers.md says what this does and does not show.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from visitt.testing import LiveServer

from .browser import DESK, PHONE, call_between, picture_grows, sign_in, until, wait_for_media
from .conftest import make_settings
from .peers import book

pytestmark = pytest.mark.browser

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")
# What iOS Safari lacks, taken away before the page's own scripts run; and its autoplay rule: a
# video with sound starts only from within a tap or a key press (a muted one at any time).
LIKE_IOS_SAFARI = """
delete HTMLMediaElement.prototype.setSinkId;
delete MediaDevices.prototype.getDisplayMedia;
let tapping = false;
for (const type of ["pointerdown", "keydown"]) {
  window.addEventListener(type, () => { tapping = true; setTimeout(() => { tapping = false; }); }, {capture: true});
}
const play = HTMLMediaElement.prototype.play;
HTMLMediaElement.prototype.play = function () {
  if (!this.muted && !tapping) return Promise.reject(new DOMException("needs a tap", "NotAllowedError"));
  return play.call(this);
};
"""
# The video codec of what each side sends and receives, over every connection of the page's call.
CODECS = """async () => {
  const out = {sent: [], received: []};
  for (const {pc} of window.visittCall.peers.values()) {
    const stats = await pc.getStats();
    const codecs = new Map();
    stats.forEach((r) => { if (r.type === "codec") codecs.set(r.id, r.mimeType); });
    stats.forEach((r) => {
      if (r.kind !== "video" || !r.codecId) return;
      if (r.type === "outbound-rtp") out.sent.push(codecs.get(r.codecId));
      if (r.type === "inbound-rtp") out.received.push(codecs.get(r.codecId));
    });
  }
  return out;
}"""
REMOTE_VIDEO = "#tiles figure:not(.self) video"
ARTEFACTS = Path(__file__).resolve().parent.parent / "test-artefacts"


@pytest.fixture
def sharing_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A clinic that lets patients share a window, so a patient's page has a share button to hide."""
    live = LiveServer(make_settings(tmp_path, patients_may_share=True)).start()
    yield live
    live.stop()


def test_a_patient_on_ios_safari_has_a_working_call_without_what_safari_lacks(sharing_server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    server = sharing_server
    clinic = browser.new_context(**DESK)
    phone = browser.new_context(**PHONE, user_agent=IPHONE)
    phone.add_init_script(LIKE_IOS_SAFARI)
    try:
        host = clinic.new_page()
        sign_in(host, server.url)
        join_url, _token = book(server, "Kari Nordmann")
        patient = phone.new_page()
        patient.goto(join_url)
        patient.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        patient.get_by_label("Your full name").fill("Kari Nordmann")
        patient.get_by_role("button", name="Join").click()
        host.locator("#waiting li", has_text="Kari Nordmann").get_by_role("button", name="Admit").click()

        # The call works both ways.
        wait_for_media(host)
        wait_for_media(patient)
        assert picture_grows(host) and picture_grows(patient)

        # H.264 both ways, as an iPhone encodes and decodes it in hardware.
        until(patient, f"() => ({CODECS})().then((c) => c.sent.length > 0 && c.received.length > 0)",
              what="video sent and received")
        assert patient.evaluate(CODECS) == {"sent": ["video/H264"], "received": ["video/H264"]}
        assert host.evaluate(CODECS) == {"sent": ["video/H264"], "received": ["video/H264"]}

        # The clinician's picture plays at once, its sound from the patient's first tap.
        video = patient.locator(REMOTE_VIDEO)
        patient.wait_for_function(f"() => !document.querySelector('{REMOTE_VIDEO}').paused")
        expect(video).to_have_js_property("muted", True)
        hint = patient.get_by_role("button", name="Tap to turn on sound")  # says why there is no sound
        expect(hint).to_be_visible()
        ARTEFACTS.mkdir(exist_ok=True)
        patient.screenshot(path=str(ARTEFACTS / "call-sound-hint-390x844.png"))
        hint.click()
        expect(video).to_have_js_property("muted", False)
        expect(hint).to_have_count(0)
        patient.wait_for_function(f"() => !document.querySelector('{REMOTE_VIDEO}').paused")

        # No sharing on the phone (the clinician, in a desktop browser, has it); no loudspeaker choice,
        # while the camera and microphone can still be chosen.
        expect(host.get_by_role("button", name="Share a window")).to_be_visible()
        expect(patient.locator("#share")).to_be_hidden()
        patient.get_by_role("button", name="Devices").click()
        expect(patient.get_by_label("Camera", exact=True).last).to_be_visible()
        expect(patient.locator("#call-speaker-field")).to_be_hidden()
        host.get_by_role("button", name="Devices").click()
        expect(host.locator("#call-speaker-field")).to_be_visible()

        # And leaving works as anywhere else.
        patient.get_by_role("button", name="Leave").click()
        expect(host.get_by_text("Kari Nordmann left the consultation.")).to_be_visible()
    finally:
        clinic.close()
        phone.close()


def test_chromium_talks_to_an_ios_safari_in_its_own_order_otherwise(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    """Without a Safari on either side nothing changes: Chromium's own first choice, VP8."""
    with call_between(server, browser) as (host, patient):
        until(patient, f"() => ({CODECS})().then((c) => c.sent.length > 0 && c.received.length > 0)",
              what="video sent and received")
        assert patient.evaluate(CODECS) == {"sent": ["video/VP8"], "received": ["video/VP8"]}
        assert host.evaluate(CODECS) == {"sent": ["video/VP8"], "received": ["video/VP8"]}


# User agents as the browsers send them: WebKit's engine (Safari, and every browser on iOS, which
# must use it), or not. An iPad asks for desktop sites as a Mac.
USER_AGENTS = {
    IPHONE: True,
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 "
    "Mobile/15E148 Safari/604.1": True,  # Chrome on iOS
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 "
    "Mobile/15E148 Safari/605.1.15": True,  # Firefox on iOS
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Safari/605.1.15": True,  # Safari on a Mac, or an iPad
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile "
    "Safari/537.36": False,
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 "
    "Chrome/121.0.0.0 Mobile Safari/537.36": False,
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
    "Safari/537.36 Edg/126.0.0.0": False,
    "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0": False,
    "Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0": False,
}


def test_which_browsers_count_as_webkit_and_which_offers_put_h264_first(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{server.url}/static/js/call.js")
        seen = page.evaluate("""async (agents) => {
          const call = await import("/static/js/call.js");
          return Object.fromEntries(agents.map((agent) => [agent, call.isWebKit(agent)]));
        }""", list(USER_AGENTS))
        assert seen == USER_AGENTS
        # Safari's offer (H.264 first) and Chromium's (VP8 first), cut down to their video lines.
        firsts = page.evaluate("""async () => {
          const call = await import("/static/js/call.js");
          const safari = "v=0\\r\\nm=audio 9 UDP/TLS/RTP/SAVPF 111\\r\\na=rtpmap:111 opus/48000/2\\r\\n"
            + "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98\\r\\na=rtpmap:96 H264/90000\\r\\na=rtpmap:97 rtx/90000\\r\\na=rtpmap:98 VP8/90000\\r\\n";
          const chromium = "v=0\\r\\nm=video 9 UDP/TLS/RTP/SAVPF 96 102\\r\\na=rtpmap:102 H264/90000\\r\\na=rtpmap:96 VP8/90000\\r\\n";
          return [call.firstVideoCodec(safari), call.firstVideoCodec(chromium), call.firstVideoCodec("v=0\\r\\n")];
        }""")
        assert firsts == ["h264", "vp8", ""]
    finally:
        context.close()
