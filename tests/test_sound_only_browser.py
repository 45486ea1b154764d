"""The patient's way in without a camera, and the help when the microphone is blocked, in Chromium.

The patient's Chromium runs with fake devices but WITHOUT the flag that answers permission prompts:
headless Chromium then refuses whatever the page was not granted. Granting the microphone alone
(``grant_permissions(["microphone"])``) is a camera blocked in the browser's settings; granting nothing is
both blocked. The clinician's browser is the usual one, with every prompt answered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from visitt.testing import LiveServer

from .browser import DESK, INBOUND_BY_PEER, sign_in
from .conftest import CHROMIUM, CHROMIUM_ARGS, make_settings
from .eventually import eventually
from .peers import book

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 788}, "is_mobile": True, "has_touch": True, "locale": "en-US"}
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.1 Mobile/15E148 Safari/604.1")
FIREFOX = "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(make_settings(tmp_path_factory.mktemp("sound"))).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def asking(browser: Browser) -> Iterator[Browser]:
    """A Chromium that asks before it opens camera or microphone (and, headless, is refused what was not granted),
    launched by the same Playwright as the usual one (one sync Playwright per thread)."""
    instance = browser.browser_type.launch(executable_path=CHROMIUM, headless=True,
                                           args=[a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"])
    yield instance
    instance.close()


def test_a_blocked_camera_still_lets_the_patient_in_with_sound(live: LiveServer, browser: Any,
                                                               asking: Browser) -> None:
    clinic = browser.new_context(**DESK)
    mobile = asking.new_context(**PHONE)
    mobile.grant_permissions(["microphone"], origin=live.url)
    try:
        host = clinic.new_page()
        sign_in(host, live.url)
        join_url, _token = book(live, "Kari Lydsen")
        patient = mobile.new_page()
        patient.goto(join_url)
        expect(patient.get_by_role("alert")).to_contain_text(
            "Your camera is blocked or missing. You can still join with sound only")
        expect(patient.locator("#mic-help")).to_be_hidden()
        patient.get_by_label("Your full name").fill("Kari Lydsen")
        patient.get_by_role("button", name="Join").click()
        expect(patient.get_by_role("heading", name="You are in the waiting room")).to_be_visible()

        host.locator("#waiting li", has_text="Kari Lydsen").locator(".admit").click()
        expect(patient.locator("#call")).to_be_visible()
        camera = patient.get_by_role("button", name="Camera", exact=True)
        expect(camera).to_have_attribute("aria-pressed", "false")
        expect(camera).to_be_disabled()
        # The clinician hears the patient, and the list says there is no picture.
        def heard() -> bool:
            peers = list(host.evaluate(INBOUND_BY_PEER).values())
            return len(peers) == 1 and peers[0]["audio"] > 0 and peers[0]["video"] == 0
        eventually(heard, "the clinician receives the patient's sound (and no picture)", timeout=20)
        kari = host.get_by_role("list", name="Participants").get_by_role("listitem").filter(has_text="Kari Lydsen")
        expect(kari).to_contain_text("Camera off")
        expect(kari).to_contain_text("Microphone on")
    finally:
        clinic.close()
        mobile.close()


@pytest.mark.parametrize(("agent", "first"), [(None, "Chrome (Android)"), (IPHONE, "Safari (iPhone, iPad)"),
                                              (FIREFOX, "Firefox")], ids=["chrome", "safari", "firefox"])
def test_a_blocked_microphone_gets_steps_for_the_browser_and_the_clinics_number(
        live: LiveServer, asking: Browser, agent: str | None, first: str) -> None:
    join_url, _token = book(live, "Kari Stille")
    context = asking.new_context(**PHONE, **({"user_agent": agent} if agent else {}))
    try:
        page = context.new_page()
        page.goto(join_url)
        help = page.locator("#mic-help")
        expect(help.get_by_role("heading", name="Your browser is blocking the microphone")).to_be_visible()
        # the patient's own browser first and open, the others folded below it
        own = help.locator("details").first
        expect(own.locator("summary")).to_have_text(first)
        expect(own).to_have_attribute("open", "")
        expect(own.get_by_role("listitem")).to_have_count(3)
        expect(own.get_by_role("listitem").last).to_have_text("Reload this page.")
        expect(help.locator("details[open]")).to_have_count(1)
        expect(help.locator("details")).to_have_count(4)
        expect(help.get_by_role("link", name="+47 69 86 00 00")).to_have_attribute("href", "tel:+4769860000")
        # Nobody knocks without a microphone.
        page.get_by_label("Your full name").fill("Kari Stille")
        page.get_by_role("button", name="Join").click()
        expect(page.get_by_role("heading", name="You are in the waiting room")).to_be_hidden()
        expect(help).to_be_visible()
    finally:
        context.close()
