"""A group call survives Janus restarting (visitt/live/sfu.py, ``sfu_server``): the clinician's page, the patient's
page and the companion's page (Chromium, each encrypting its frames end to end) see and hear each other through
Janus. Janus stops: within seconds every page says that the call's sound and pictures have stopped and that it is
reconnecting, with the others' pictures dimmed, and keeps saying so while Janus stays down. Janus starts again
on the same ports: Visitt opens a new session and room, the pages publish and subscribe afresh, and every page
decodes the two others' frames again - still end-to-end encrypted, with the call's keys unchanged - without anyone
knocking again. And a group call begun while Janus was down comes up once Janus starts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from visitt.testing import LiveServer

from .browser import DESK, knock_and_admit, sign_in, still_in_the_call
from .conftest import make_settings
from .janus import SECRET, JanusServer
from .test_group_pages_browser import SEEN
from .test_sfu import _book_group

LOST = "The call's sound and pictures have stopped: the connection to the hospital's media server was lost."
BACK = "The call is connected again."
E2EE = "End-to-end encrypted: the media server cannot see or hear the call."


def frames(page: Page) -> dict[str, int]:
    """Frames decoded from each participant the page receives, on its connections now."""
    seen: dict[str, Any] = page.evaluate(SEEN)
    return {id: entry["video"] for id, entry in seen.items()}


def group_of_three(server: LiveServer, contexts: list[Any]) -> list[Page]:
    """A group consultation booked, its clinician signed in (first context), its patient and companion knocking
    (second and third) and let in: the three pages."""
    patient_token, companion_token = _book_group(server)
    host = contexts[0].new_page()
    sign_in(host, server.url)
    return [host, *(knock_and_admit(host, context.new_page(), f"{server.url}/v/{token}", name)
                    for context, token, name in ((contexts[1], patient_token, "Kari Nordmann"),
                                                 (contexts[2], companion_token, "Ola Nordmann")))]


def decodes(page: Page, others: int, since: dict[str, int] | None = None, timeout: float = 120.0) -> dict[str, int]:
    """Until ``page`` decodes 30 frames more than ``since`` from each of ``others`` participants (generous: three
    Chromium pages and Janus on a loaded machine)."""
    since = since or {}
    deadline = time.monotonic() + timeout
    now: dict[str, int] = {}
    while time.monotonic() < deadline:
        now = frames(page)
        if len(now) == others and all(count > since.get(id, 0) + 30 for id, count in now.items()):
            return now
        page.wait_for_timeout(250)
    raise AssertionError(f"{page.url} does not decode everyone: {now}, since {since}")


@pytest.mark.browser
def test_a_group_call_comes_back_after_janus_restarts_and_says_so_while_it_is_down(
        browser: Browser, tmp_path: Path) -> None:
    janus = JanusServer(tmp_path / "janus-server")
    janus.start()
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET)).start()
    contexts = [browser.new_context(**DESK) for _ in range(3)]
    try:
        pages = group_of_three(server, contexts)
        host, *guests = pages
        for page in pages:
            decodes(page, 2)
            expect(page.locator("#e2ee-state")).to_have_text(E2EE)
        keys = [key for room in server.app.state.hub.sfu.rooms.values() for _, key in room.keys.keys]

        janus.stop()
        for page in pages:  # said within seconds, on every page, and the others' pictures dimmed, not frozen
            expect(page.locator("#call-status")).to_contain_text(LOST, timeout=15000)
            expect(page.locator("#tiles .tile.away")).to_have_count(2)
        host.wait_for_timeout(6000)  # Janus stays down: Visitt keeps trying, and the pages keep saying so
        for page in pages:
            expect(page.locator("#call-status")).to_contain_text(LOST)
            expect(page.locator("#tiles .tile.away")).to_have_count(2)

        janus.start()  # the same ports and configuration: a Janus restarted
        for page in pages:
            expect(page.locator("#call-status")).to_have_text(BACK, timeout=30000)
        for page in pages:  # everyone sees everyone again, on new connections, still end-to-end encrypted
            decodes(page, 2)
            expect(page.locator("#e2ee-state")).to_have_text(E2EE)
            expect(page.locator("#tiles .tile.away")).to_have_count(0)
        assert [key for room in server.app.state.hub.sfu.rooms.values() for _, key in room.keys.keys] == keys
        still_in_the_call(host, guests)
    finally:
        for context in contexts:
            context.close()
        server.stop()
        janus.stop()


@pytest.mark.browser
def test_a_group_call_begun_while_janus_is_down_comes_up_once_janus_is_back(browser: Browser, tmp_path: Path) -> None:
    """Janus goes down after the booking and before anyone is in the call: no session for Visitt to lose. Both
    pages say the media server was lost (not an error), and once Janus starts they say the call is connected and
    decode each other's frames, end-to-end encrypted, without anyone knocking again."""
    janus = JanusServer(tmp_path / "janus-server")
    janus.start()
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET)).start()
    contexts = [browser.new_context(**DESK) for _ in range(2)]
    try:
        patient_token, _ = _book_group(server)  # while Janus answers: a group booking asks it first
        janus.stop()
        host = contexts[0].new_page()
        sign_in(host, server.url)
        patient = knock_and_admit(host, contexts[1].new_page(), f"{server.url}/v/{patient_token}", "Kari Nordmann")
        pages = [host, patient]
        for page in pages:
            expect(page.locator("#call-status")).to_contain_text(LOST, timeout=30000)

        janus.start()
        for page in pages:
            expect(page.locator("#call-status")).to_have_text(BACK, timeout=30000)
        for page in pages:
            decodes(page, 1)
            expect(page.locator("#e2ee-state")).to_have_text(E2EE)
        still_in_the_call(host, [patient])
    finally:
        for context in contexts:
            context.close()
        server.stop()
        janus.stop()
