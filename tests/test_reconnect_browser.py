"""Chromium: the server drops the patient's signaling socket mid-call; the page reconnects by itself,
takes its place again without knocking, and the picture keeps coming on both sides."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from visitt.testing import LiveServer

from .browser import INBOUND, call_between
from .conftest import make_settings
from .test_signaling import audit_trail

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(make_settings(tmp_path, reconnect_grace=30.0)).start()
    yield live
    live.stop()


def _frames(page: Page) -> int:
    return int(page.evaluate(INBOUND)["video"])


def _grows(page: Page, timeout: float = 10.0) -> bool:
    start = _frames(page)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.wait_for_timeout(200)
        if _frames(page) > start + 5:
            return True
    return False


def test_the_patient_reconnects_by_itself(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with call_between(server, browser) as (host, patient):
        room = patient.evaluate("() => [...window.visittCall.peers.keys()][0]")
        assert room.startswith("s")  # the patient's one peer is the clinician

        patient.evaluate("""() => {
          window.statusSeen = [];
          new MutationObserver(() => window.statusSeen.push(document.querySelector("#call-status").textContent))
            .observe(document.querySelector("#call-status"), {childList: true, characterData: true, subtree: true});
        }""")
        (socket,) = [c for c in server.app.state.connections.open if c.role == "patient"]
        server.call(socket.websocket.close(4000))  # the server drops the patient's socket

        patient.wait_for_function("() => window.statusSeen.includes('In consultation')", timeout=15_000)
        assert patient.evaluate("() => window.statusSeen")[0] == "Reconnecting…"
        expect(patient.locator("#call")).to_be_visible()
        (again,) = [c for c in server.app.state.connections.open if c.role == "patient"]
        assert again is not socket
        assert _grows(patient) and _grows(host)  # the picture flows on both sides
        expect(host.locator("#tiles figure.away")).to_have_count(0)
        expect(host.locator("#waiting li")).to_have_count(0)  # nobody knocked
    public_room = next(iter(server.app.state.hub.rooms))
    actions = [action for action, _ in audit_trail(server, public_room)]
    assert actions.count("knock") == 1 and "leave" not in actions
