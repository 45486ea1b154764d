"""The test room in Chromium with fake camera and microphone: the device check, the speaker question,
and the round trip, where the page reports the frames the server sent back and its verdict - also
relayed through coturn, with the credential the page asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from visitt.testing import LiveServer

from .browser import PHONE
from .conftest import make_settings
from .turnserver import SECRET, Coturn

pytestmark = pytest.mark.browser


def test_the_round_trip_returns_frames_and_the_equipment_is_ready(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/test")
        page.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        page.wait_for_function("() => document.querySelector('#level').value > 0")

        page.get_by_role("button", name="Play a test sound").click()
        page.get_by_role("button", name="Yes").click()
        expect(page.get_by_text("your speaker or headphones work")).to_be_visible()

        page.get_by_role("button", name="Start the round trip").click()
        page.wait_for_function("() => Number(document.querySelector('#frames').textContent) > 0", timeout=15_000)
        page.wait_for_function("() => document.querySelector('#echo').videoWidth > 0")
        expect(page.locator("#verdict")).to_have_text("Your equipment is ready", timeout=15_000)
        assert int(page.locator("#frames").inner_text()) > 0
        expect(page.locator("#route")).to_have_text("direct")  # loopback: host candidates, no TURN
        assert page.locator("#bitrate").inner_text().endswith("kbit/s")
        assert page.locator("#loss").inner_text().endswith("%")
        expect(page.locator("#advice li")).to_have_count(0)
        expect(page.get_by_role("button", name="Start the round trip")).to_be_enabled()
        # the page ended its session itself, freeing the place for the next visitor
        for _ in range(50):
            if not server.app.state.test_room.sessions:
                break
            page.wait_for_timeout(100)
        assert server.app.state.test_room.sessions == {}
    finally:
        context.close()


def test_a_busy_test_room_says_so_in_the_visitors_language(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    server.app.state.test_room.max_sessions = 0
    context = browser.new_context(**{**PHONE, "locale": "nb-NO"})
    try:
        page = context.new_page()
        page.goto(f"{server.url}/test")
        page.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        page.get_by_role("button", name="Start testsamtalen").click()
        expect(page.locator("#trip-status")).to_have_text("Testrommet er opptatt. Prøv igjen om et minutt.")
        expect(page.locator("#frames")).to_have_text("0")
        expect(page.locator("#start")).to_be_enabled()
    finally:
        context.close()


def test_relayed_only_the_round_trip_goes_through_coturn(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    coturn = Coturn(tmp_path)
    coturn.start()
    server = LiveServer(make_settings(tmp_path, turn_secret=SECRET, turn_urls=(coturn.url,),
                                      ice_transport_policy="relay")).start()
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/test")
        page.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        page.get_by_role("button", name="Start the round trip").click()
        expect(page.locator("#verdict")).to_have_text("Your equipment is ready", timeout=20_000)
        expect(page.locator("#route")).to_have_text("relayed through a server")
        assert int(page.locator("#frames").inner_text()) > 0
    finally:
        context.close()
        server.stop()
        coturn.kill()
