"""Chromium: the patient's place belongs to her browser. Another phone with her SMS knocks as a second
device, gets nothing of the call, and the clinician sees the knock as such; her own reload or second tab
comes straight back into the call, without a knock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from visitt.testing import LiveServer

from .browser import MARK_PEERS, PHONE, SAME_PEERS, call_between, picture_grows
from .conftest import make_settings
from .test_signaling import audit_trail

pytestmark = pytest.mark.browser

# Counts the peer connections a page makes, and every ICE server it is handed.
COUNT_PEERS = """() => {
  window.peerConnections = 0;
  window.iceServers = [];
  const Original = window.RTCPeerConnection;
  window.RTCPeerConnection = function (config) {
    window.peerConnections += 1;
    window.iceServers.push(...((config && config.iceServers) || []));
    return new Original(config);
  };
}"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(make_settings(tmp_path, reconnect_grace=30.0)).start()
    yield live
    live.stop()


def knocks(server: LiveServer) -> int:
    public_room = next(iter(server.app.state.hub.rooms))
    return [action for action, _ in audit_trail(server, public_room)].count("knock")


def test_another_phone_with_the_link_knocks_and_gets_nothing_of_the_call(  # type: ignore[no-untyped-def]
        server: LiveServer, browser) -> None:
    with call_between(server, browser) as (host, patient):
        patient.evaluate(MARK_PEERS)
        other = browser.new_context(**PHONE)
        try:
            intruder = other.new_page()
            intruder.add_init_script(f"({COUNT_PEERS})()")
            intruder.goto(patient.url)
            intruder.locator("#name").fill("Kari Nordmann")
            intruder.locator("#join").click()
            expect(intruder.locator("#status")).to_have_text(
                "This consultation is already open on another device. You have knocked: the clinician decides "
                "whether to let you in here.")
            knock = host.locator("#waiting li", has_text="Kari Nordmann")
            expect(knock.locator(".second-device")).to_be_visible()
            expect(knock.locator(".second-device")).to_have_text("second device")
            expect(host.locator("#call-status")).to_contain_text("Kari Nordmann – second device")

            assert picture_grows(patient) and picture_grows(host)  # her call goes on, on the same connections
            assert patient.evaluate(SAME_PEERS)
            expect(patient.locator("#call")).to_be_visible()
            assert intruder.evaluate("() => [window.peerConnections, window.iceServers.length]") == [0, 0]
            assert intruder.evaluate("() => window.visittCall === undefined")
            expect(intruder.locator("#call")).to_be_hidden()
        finally:
            other.close()


def test_a_reload_in_the_call_comes_straight_back(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with call_between(server, browser) as (host, patient):
        patient.reload()
        expect(patient.locator("#call")).to_be_visible(timeout=15_000)
        expect(patient.locator("#call-status")).to_have_text("In consultation")
        assert picture_grows(patient) and picture_grows(host)
        expect(host.locator("#waiting li")).to_have_count(0)  # nobody knocked
        assert knocks(server) == 1


def test_a_second_tab_takes_the_call_and_the_first_can_take_it_back(  # type: ignore[no-untyped-def]
        server: LiveServer, browser) -> None:
    with call_between(server, browser) as (host, patient):
        tab = patient.context.new_page()
        tab.goto(patient.url)
        expect(tab.locator("#call")).to_be_visible(timeout=15_000)
        expect(patient.locator("#done-text")).to_have_text(
            "This consultation is now open in another window or on another device, and continues there.")
        expect(host.locator("#call-status")).to_have_text("Kari Nordmann continued in another window of the same browser.")
        assert picture_grows(tab) and picture_grows(host)

        patient.get_by_role("button", name="Use it here").click()
        expect(patient.locator("#call")).to_be_visible(timeout=15_000)
        expect(tab.locator("#done-text")).to_have_text(
            "This consultation is now open in another window or on another device, and continues there.")
        assert picture_grows(patient) and picture_grows(host)
        expect(host.locator("#waiting li")).to_have_count(0)
        assert knocks(server) == 1
