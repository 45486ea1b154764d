"""Controls during the call, end to end in Chromium with fake devices: changing camera, microphone and
loudspeaker from the Devices panel without renegotiating, and the clinician asking a muted patient to
turn the microphone on (which only the patient's own press does).

Chromium's fake devices are one camera ("fake_device_0"), three microphones and three outputs, so the
camera is chosen again (a new track of the same camera) while the microphone and loudspeaker really change.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from visitt.testing import LiveServer

from .browser import INBOUND, call_between, until

pytestmark = pytest.mark.browser

# The tracks the page's senders carry now, by kind.
SENT = """() => {
  const out = {};
  for (const {pc} of window.visittCall.peers.values())
    for (const sender of pc.getSenders()) if (sender.track) out[sender.track.kind] = {id: sender.track.id, label: sender.track.label};
  return out;
}"""
NEGOTIATIONS = "() => [...window.visittCall.peers.values()].map(({pc}) => pc.localDescription.sdp.split('\\n').find((l) => l.startsWith('o=')))"


def media_grows(page: Page) -> None:
    """The page keeps decoding the other side's picture and receiving its sound."""
    before = page.evaluate(INBOUND)
    until(page, f"(before) => ({INBOUND})().then((now) => now.video > before.video + 10 && now.audio > before.audio + 10)",
          before, what="10 more frames and sound packets", timeout=10)


def test_changing_devices_swaps_the_tracks_and_the_other_side_still_sees_and_hears(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with call_between(server, browser) as (host, patient):
        sent, offers = host.evaluate(SENT), host.evaluate(NEGOTIATIONS)
        host.get_by_role("button", name="Devices").click()
        expect(host.get_by_role("button", name="Devices")).to_have_attribute("aria-expanded", "true")
        camera = host.get_by_role("combobox", name="Camera")
        expect(camera.locator("option")).to_have_count(1)
        camera.select_option(label="fake_device_0")
        host.wait_for_function("(old) => { const t = window.visittCall.local.getVideoTracks()[0]; return t.id !== old && t.readyState === 'live'; }",
                               arg=sent["video"]["id"])
        host.wait_for_function(f"(old) => ({SENT})().video.id !== old", arg=sent["video"]["id"])

        microphone = host.get_by_role("combobox", name="Microphone")
        microphone.select_option(label="Fake Audio Input 1")
        host.wait_for_function(f"() => ({SENT})().audio.label === 'Fake Audio Input 1'")

        speaker = host.get_by_role("combobox", name="Speaker")
        chosen = speaker.locator("option", has_text="Fake Audio Output 1").get_attribute("value")
        speaker.select_option(label="Fake Audio Output 1")
        remote_video = host.locator("#tiles figure:not(.self) video")
        host.wait_for_function("(id) => document.querySelector('#tiles figure:not(.self) video').sinkId === id", arg=chosen)
        assert remote_video.count() == 1

        # No renegotiation: the same session descriptions; and the patient sees and hears the new devices.
        assert host.evaluate(NEGOTIATIONS) == offers
        media_grows(patient)
        expect(host.locator("#tiles figure.self video")).to_have_js_property("readyState", 4)


def test_the_clinician_asks_a_muted_patient_to_unmute_and_only_the_patient_turns_it_on(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with call_between(server, browser) as (host, patient):
        in_list = host.locator("#participants li", has_text="Kari Nordmann")
        ask = in_list.get_by_role("button", name="Ask to unmute")
        expect(ask).to_have_count(0)  # the microphone is on: nothing to ask

        patient.get_by_role("button", name="Microphone", exact=True).click()
        expect(in_list).to_contain_text("Microphone off")
        ask.click()
        expect(host.locator("#call-status")).to_contain_text("Kari Nordmann has been asked to turn on their microphone.")

        prompt = patient.get_by_role("alertdialog")
        expect(prompt).to_be_visible()
        expect(prompt).to_contain_text("asks you to turn on your microphone.")
        # A request never turns the microphone on by itself.
        patient.wait_for_timeout(300)
        expect(patient.get_by_role("button", name="Microphone", exact=True)).to_have_attribute("aria-pressed", "false")
        expect(in_list).to_contain_text("Microphone off")

        prompt.get_by_role("button", name="Turn on microphone").click()
        expect(prompt).to_be_hidden()
        expect(patient.get_by_role("button", name="Microphone", exact=True)).to_have_attribute("aria-pressed", "true")
        expect(in_list).to_contain_text("Microphone on")
        expect(ask).to_have_count(0)
