"""The patient's device check when the browser blocks the camera or has none: specific help, in words;
and a microphone chosen before a reload is still the one used after it.

Each case is a real Chromium set-up, not a simulation: without the flag that answers permission
prompts, headless Chromium refuses camera access; without the fake devices, it finds none.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from visitt.testing import LiveServer

from .browser import PHONE
from .conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser


def _link(server: LiveServer) -> str:
    starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    booked = httpx.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                        json={"patient_name": "Kari Nordmann", "patient_phone": "41234567", "starts_at": starts})
    return str(booked.json()["join_url"])


@pytest.mark.parametrize(
    ("left_out", "help_text"),
    [("--use-fake-ui-for-media-stream", "Your browser is blocking the microphone"),
     ("--use-fake-device-for-media-stream", "No camera or microphone was found")],
    ids=["permission-denied", "no-device"],
)
def test_device_problems_are_explained(server: LiveServer, left_out: str, help_text: str) -> None:
    link = _link(server)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=[arg for arg in CHROMIUM_ARGS if arg != left_out])
        try:
            page = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844}).new_page()
            page.goto(link)
            expect(page.get_by_role("alert")).to_contain_text(help_text)
            # Knocking is not possible without a working camera and microphone; the help stays.
            page.get_by_label("Your full name").fill("Kari Nordmann")
            page.get_by_role("button", name="Join").click()
            expect(page.get_by_role("alert")).to_contain_text(help_text)
            expect(page.locator("#call")).to_be_hidden()
        finally:
            browser.close()


def test_the_microphone_chosen_before_a_reload_is_used_after_it(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        page.goto(_link(server))
        in_use = "() => document.querySelector('#preview').srcObject?.getAudioTracks()[0]?.label"
        page.wait_for_function(f"() => ({in_use})() === 'Fake Default Audio Input'")
        page.get_by_text("Choose camera and microphone").click()
        page.locator("#microphone").select_option(label="Fake Audio Input 2")
        page.wait_for_function(f"() => ({in_use})() === 'Fake Audio Input 2'")

        page.reload()  # the same tab: the choice is kept for its session
        page.wait_for_function(f"() => ({in_use})() === 'Fake Audio Input 2'")
        page.get_by_text("Choose camera and microphone").click()
        expect(page.locator("#microphone option:checked")).to_have_text("Fake Audio Input 2")

        fresh = context.new_page()  # another tab: a session of its own, the usual microphone
        fresh.goto(page.url)
        fresh.wait_for_function(f"() => ({in_use})() === 'Fake Default Audio Input'")
    finally:
        context.close()
