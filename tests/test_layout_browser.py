"""The speaker layout and the participant list end to end in Chromium with fake camera and microphone.

Chromium's fake microphone plays the same beep on every side, so the active speaker is chosen from
levels the test injects through the page's diagnostics handle ``window.visittSpeaker`` (polling of
the real ``getStats()`` levels is stopped first). Until a third participant can be invited, a
second remote tile without media stands in for one (``window.visittTiles.ensure``).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from visitt import demo
from visitt.testing import LiveServer

from .browser import call_between

pytestmark = pytest.mark.browser

PORTRAIT = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True, "locale": "en-US"}
CLINICIAN = demo.PEOPLE[0][2]


def _feed(page: Page, id: str, level: float, at: int) -> None:
    """One level reading, ``at`` ms after the test's own clock started."""
    page.evaluate("([id, level, at]) => window.visittSpeaker.feed(id, level, window.t0 + at)", [id, level, at])


def _large(page: Page) -> str:
    return str(page.locator("#tiles figure.large").get_attribute("data-peer"))


def test_speaker_layout_pinning_and_participant_list(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with call_between(server, browser, phone=PORTRAIT) as (host, patient):

        # The participant list on both pages: both people, the clinician with the host symbol.
        for page in (host, patient):
            people = page.get_by_role("list", name="Participants").get_by_role("listitem")
            expect(people).to_have_count(2)
            clinician = people.filter(has_text=CLINICIAN)
            expect(clinician).to_contain_text("★ Clinician")
            expect(people.filter(has_text="Kari Nordmann")).to_contain_text("Patient")
            expect(people.filter(has_text="Kari Nordmann")).to_contain_text("Microphone on")
        expect(host.get_by_text("Kari Nordmann joined the consultation.")).to_be_visible()

        # The patient mutes: both lists say so.
        patient.get_by_role("button", name="Microphone", exact=True).click()
        for page in (host, patient):
            kari = page.get_by_role("list", name="Participants").get_by_role("listitem").filter(has_text="Kari Nordmann")
            expect(kari).to_contain_text("Microphone off")
            expect(kari).to_contain_text("Camera on")

        # Portrait at 360 px: the other person large and within the screen, yourself small in a corner.
        large = patient.locator("#tiles figure.large")
        expect(large).to_have_count(1)
        box = large.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360, box
        own = patient.locator("#tiles figure.self").bounding_box()
        assert own and own["width"] < box["width"] / 2 and own["x"] + own["width"] <= 360, own

        # The clinician's side: the patient and a stand-in for a third participant.
        kari_id = str(host.locator("#tiles figure:not(.self)").first.get_attribute("data-peer"))
        host.evaluate("() => { window.visittSpeaker.stop(); window.visittTiles.ensure('x-extra', 'Extra Person');"
                      " window.t0 = performance.now() + 60000; }")
        _feed(host, kari_id, 0.3, 0)
        assert _large(host) == kari_id
        # A blip: the other one louder for 400 ms, then quiet again - no switch.
        for at in (100, 300, 500):
            _feed(host, "x-extra", 0.6, at)
            _feed(host, kari_id, 0.05, at)
        _feed(host, "x-extra", 0.0, 600)
        _feed(host, kari_id, 0.3, 600)
        assert _large(host) == kari_id
        # Louder for longer than the hold time: the large picture switches.
        for at in range(1000, 2300, 200):
            _feed(host, "x-extra", 0.6, at)
            _feed(host, kari_id, 0.05, at)
        expect(host.locator("#tiles figure.large")).to_have_attribute("data-peer", "x-extra")

        # Pinning overrides the automatic choice until unpinned.
        pin = host.get_by_role("button", name="Pin Kari Nordmann")
        expect(pin).to_have_attribute("aria-pressed", "false")
        pin.click()
        expect(pin).to_have_attribute("aria-pressed", "true")
        expect(host.locator("#tiles figure.large")).to_have_attribute("data-peer", kari_id)
        for at in range(2400, 4000, 200):
            _feed(host, "x-extra", 0.8, at)
        assert _large(host) == kari_id
        pin.click()
        expect(pin).to_have_attribute("aria-pressed", "false")
        expect(host.locator("#tiles figure.large")).to_have_attribute("data-peer", "x-extra")

        # The patient leaves: the clinician's list and notice follow.
        patient.get_by_role("button", name="Leave").click()
        expect(host.get_by_role("list", name="Participants").get_by_role("listitem")).to_have_count(1)
        expect(host.get_by_text("Kari Nordmann left the consultation.")).to_be_visible()
