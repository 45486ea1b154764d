"""Firefox with the camera and microphone blocked: the patient's device check explains it in words.

A Firefox of its own (its preferences are the browser's, not a context's), with the site permission for
camera and microphone set to "block", as a patient who once pressed "Block" has it. No sound server is
needed: nothing plays.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from visitt.testing import LiveServer

from .peers import book
from .test_firefox_browser import FIREFOX, PHONE, firefox_missing

pytestmark = pytest.mark.browser

BLOCKED = {
    "media.navigator.streams.fake": True,
    "permissions.default.camera": 2,  # 2: block
    "permissions.default.microphone": 2,
}


@pytest.fixture(scope="module")
def blocked_firefox() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if reason := firefox_missing():
        pytest.skip(reason)
    with sync_playwright() as playwright:
        instance = playwright.firefox.launch(channel="moz-firefox", executable_path=FIREFOX, headless=True,
                                             firefox_user_prefs=BLOCKED)
        yield instance
        instance.close()


def test_a_blocked_camera_is_explained_in_firefox(server: LiveServer, blocked_firefox: Any) -> None:
    context = blocked_firefox.new_context(**PHONE)
    try:
        page = context.new_page()
        join_url, _token = book(server)
        page.goto(join_url)
        # both blocked: without the microphone there is no way in, and the help for this browser comes first, open
        help_ = page.locator("#mic-help")
        expect(help_).to_contain_text("Your browser is blocking the microphone")
        expect(help_.locator("details[open] summary")).to_have_text("Firefox")
        page.get_by_label("Your full name").fill("Kari Nordmann")
        page.get_by_role("button", name="Join").click()
        expect(help_).to_be_visible()
        expect(page.locator("#call")).to_be_hidden()
    finally:
        context.close()
