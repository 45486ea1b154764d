"""Sharing a window, end to end in Chromium.

What Chromium's fake capture gives (``--use-fake-ui-for-media-stream``, no real screen in headless
mode): asked as Visitt asks - a window, screens excluded (``monitorTypeSurfaces: "exclude"``) - the fake
picker picks a browser tab (the sharing page's own, in its size), ``displaySurface: "browser"``, which Visitt
accepts like a window. So the first test shares for real: the patient decodes frames in the window's shape in
place of the 4:3 camera and sees
the clinician marked as sharing, and after Stop sharing the camera comes back.

Asked without the exclusion, the same fake picker gives the whole screen (``displaySurface: "monitor"``).
Firefox and Safari do not know ``monitorTypeSurfaces`` and let the user pick a screen, so the second test
plays such a browser: the page's ``getDisplayMedia`` is made to ignore the constraints and return what
Chromium gives for a plain ``{video: true}``. Visitt must then refuse the screen at once, say why, and
keep the camera flowing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from visitt.testing import LiveServer

from .browser import call_between
from .conftest import make_settings
from .eventually import eventually

pytestmark = pytest.mark.browser

# The picture the page receives from the other side: frame size and frames decoded so far.
RECEIVED = """async () => {
  const out = {width: 0, height: 0, decoded: 0};
  for (const {pc} of window.visittCall.peers.values())
    (await pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") Object.assign(out, {width: r.frameWidth || 0, height: r.frameHeight || 0, decoded: r.framesDecoded || 0});
    });
  return out;
}"""
# A browser that ignores monitorTypeSurfaces: whatever is asked, the user picks the whole screen.
WHOLE_SCREEN_BROWSER = """() => {
  const original = navigator.mediaDevices.getDisplayMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getDisplayMedia = () => original({video: true});
}"""


def window_shape(page: Page) -> float:
    """The shape (width / height) of the window ``page`` shares: never the camera's 4:3 here."""
    aspect: float = page.evaluate("() => { const shared = window.visittCall.media.shared;"
                                  " return shared && shared.getSettings().width / shared.getSettings().height; }")
    assert aspect and abs(aspect - 4 / 3) > 0.1, aspect
    return aspect


def receives(page: Page, aspect: float, frames: int = 15) -> None:
    """The page decodes at least ``frames`` more frames of the given aspect ratio (width / height)."""
    start = page.evaluate(RECEIVED)["decoded"]

    def shaped() -> bool:  # polled from here: wait_for_function takes a promise as true at once
        seen = page.evaluate(RECEIVED)
        return bool(seen["height"] > 0 and abs(seen["width"] / seen["height"] - aspect) < 0.05
                    and seen["decoded"] > start + frames)

    eventually(shaped, f"{frames} more frames {aspect:.2f} wide to 1 high on {page.url}", timeout=30)


def test_the_clinician_shares_a_window_and_the_patient_sees_it_then_the_camera_again(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with call_between(server, browser) as (host, patient):
        receives(patient, 4 / 3)  # the fake camera, 640x480
        share = host.get_by_role("button", name="Share a window")
        offers = host.evaluate("() => [...window.visittCall.peers.values()].map(({pc}) => pc.localDescription.sdp)")
        share.click()
        stop = host.get_by_role("button", name="Stop sharing")
        expect(stop).to_be_visible()
        expect(host.locator("#call-status")).to_contain_text("You are sharing one window.")
        receives(patient, window_shape(host))
        clinician = patient.locator("#participants li.host")
        expect(clinician).to_contain_text("Sharing a window")
        expect(patient.locator("#tiles figure.sharing")).to_have_count(1)
        # The window took the camera's place without a new offer.
        assert host.evaluate("() => [...window.visittCall.peers.values()].map(({pc}) => pc.localDescription.sdp)") == offers

        stop.click()
        expect(host.get_by_role("button", name="Share a window")).to_be_visible()
        receives(patient, 4 / 3)
        expect(clinician).not_to_contain_text("Sharing a window")
        expect(patient.locator("#tiles figure.sharing")).to_have_count(0)


def test_a_whole_screen_is_refused_at_once_and_the_camera_keeps_flowing(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with call_between(server, browser) as (host, patient):
        host.evaluate(WHOLE_SCREEN_BROWSER)
        host.get_by_role("button", name="Share a window").click()
        expect(host.locator("#call-status")).to_contain_text(
            "Only a single window can be shared, never the whole screen.")
        expect(host.get_by_role("button", name="Share a window")).to_be_visible()
        expect(host.get_by_role("button", name="Stop sharing")).to_have_count(0)
        receives(patient, 4 / 3, frames=30)
        expect(patient.locator("#participants li.host")).not_to_contain_text("Sharing a window")


def test_the_patient_has_no_share_button_unless_the_clinic_allows_it(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with call_between(server, browser, phone={"viewport": {"width": 1024, "height": 768}, "locale": "en-US"}) as (_host, patient):
        expect(patient.get_by_role("button", name="Devices")).to_be_visible()
        expect(patient.get_by_role("button", name="Share a window")).to_have_count(0)
        assert patient.evaluate("() => performance.getEntriesByType('resource').some((e) => e.name.endsWith('/share.js'))") is False


def test_where_the_clinic_allows_it_a_patient_at_a_computer_shares_too(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    live = LiveServer(make_settings(tmp_path, patients_may_share=True)).start()
    try:
        with call_between(live, browser, phone={"viewport": {"width": 1280, "height": 720}, "locale": "en-US"}) as (host, patient):
            # a wide screen: the tab it shares is told apart from its 4:3 camera by its shape
            patient.get_by_role("button", name="Share a window").click()
            expect(patient.get_by_role("button", name="Stop sharing")).to_be_visible()
            expect(host.locator("#participants li", has_text="Kari Nordmann")).to_contain_text("Sharing a window")
            receives(host, window_shape(patient))
    finally:
        live.stop()


def test_after_a_server_restart_the_patient_still_sees_who_is_sharing(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, reconnect_grace=30.0)
    first = LiveServer(settings).start()
    second: LiveServer | None = None
    try:
        with call_between(first, browser) as (host, patient):
            host.get_by_role("button", name="Share a window").click()
            clinician = patient.locator("#participants li.host")
            expect(clinician).to_contain_text("Sharing a window")

            first.stop()  # the new server knows nothing of the share
            expect(patient.locator("#call-status")).to_have_text("Reconnecting…")
            second = LiveServer(settings, port=first.port).start()
            expect(patient.locator("#call-status")).to_have_text("In consultation", timeout=15_000)
            expect(host.get_by_role("button", name="Stop sharing")).to_be_visible()
            expect(clinician).to_contain_text("Sharing a window", timeout=15_000)
            expect(patient.locator("#tiles figure.sharing")).to_have_count(1)
            receives(patient, window_shape(host))
    finally:
        first.stop()
        if second is not None:
            second.stop()
