"""Chromium: the server drops the patient's signaling socket mid-call; the page reconnects by itself,
takes its place again without knocking, and the picture keeps coming on both sides - also when the
sound and picture were cut off with it, which a new peer connection brings back, and while the
server is away altogether, on the same peer connection; and when the socket dropped while the page was
hidden (a phone asleep), as soon as the page is shown again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from visitt.testing import LiveServer

from .browser import MARK_PEERS, SAME_PEERS, call_between, picture_grows
from .conftest import make_settings
from .turnserver import SECRET, Coturn
from .test_signaling import audit_trail

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(make_settings(tmp_path, reconnect_grace=30.0)).start()
    yield live
    live.stop()


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
        assert picture_grows(patient) and picture_grows(host)  # the picture flows on both sides
        expect(host.locator("#tiles figure.away")).to_have_count(0)
        expect(host.locator("#waiting li")).to_have_count(0)  # nobody knocked
    public_room = next(iter(server.app.state.hub.rooms))
    actions = [action for action, _ in audit_trail(server, public_room)]
    assert actions.count("knock") == 1 and "leave" not in actions


# The page goes to the background (a phone put down, another tab in front) or comes back, as the
# browser tells it: `document.visibilityState` and a `visibilitychange` event.
SHOWN = """(state) => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => state});
  Object.defineProperty(document, "hidden", {configurable: true, get: () => state === "hidden"});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_a_socket_dropped_while_the_page_is_hidden_comes_back_when_it_is_shown(  # type: ignore[no-untyped-def]
        server: LiveServer, browser) -> None:
    with call_between(server, browser) as (host, patient):
        for page in (host, patient):
            page.evaluate(MARK_PEERS)
        patient.evaluate("() => { window.visittSignaling.giveUpAfter = 500; }")  # hidden far longer than this
        patient.evaluate(SHOWN, "hidden")
        patient.context.set_offline(True)  # the phone's network is away while it sleeps
        (socket,) = [c for c in server.app.state.connections.open if c.role == "patient"]
        server.call(socket.websocket.close(4000))

        # Several tries fail, long past giveUpAfter, while the page is hidden: it keeps its call.
        patient.wait_for_function("() => window.visittSignaling.attempts >= 3", timeout=15_000)
        expect(patient.locator("#call")).to_be_visible()
        expect(patient.locator("#done")).to_be_hidden()
        expect(patient.locator("#call-status")).to_have_text("Reconnecting…")

        patient.context.set_offline(False)
        patient.evaluate(SHOWN, "visible")
        expect(patient.locator("#call-status")).to_have_text("In consultation", timeout=15_000)
        (again,) = [c for c in server.app.state.connections.open if c.role == "patient"]
        assert again is not socket
        assert picture_grows(patient) and picture_grows(host)  # the picture flows on both sides
        assert patient.evaluate(SAME_PEERS) and host.evaluate(SAME_PEERS)
        expect(host.locator("#tiles figure.away")).to_have_count(0)
        expect(host.locator("#waiting li")).to_have_count(0)  # nobody knocked
    public_room = next(iter(server.app.state.hub.rooms))
    actions = [action for action, _ in audit_trail(server, public_room)]
    assert actions.count("knock") == 1 and "leave" not in actions


def test_while_the_server_is_away_the_picture_keeps_flowing_on_the_same_connection(  # type: ignore[no-untyped-def]
        tmp_path: Path, browser) -> None:
    settings = make_settings(tmp_path, reconnect_grace=30.0)
    first = LiveServer(settings).start()
    second: LiveServer | None = None
    try:
        with call_between(first, browser) as (host, patient):
            for page in (host, patient):
                page.evaluate(MARK_PEERS)
            first.stop()  # the node is gone: no signaling for anyone
            expect(patient.locator("#call-status")).to_have_text("Reconnecting…")
            assert picture_grows(patient) and picture_grows(host)  # peer to peer: nothing of the picture went through it
            assert patient.evaluate(SAME_PEERS) and host.evaluate(SAME_PEERS)

            second = LiveServer(settings, port=first.port).start()
            expect(patient.locator("#call-status")).to_have_text("In consultation", timeout=15_000)
            expect(host.locator("#call-status")).to_have_text("In consultation")
            assert picture_grows(patient) and picture_grows(host)
            assert patient.evaluate(SAME_PEERS) and host.evaluate(SAME_PEERS)  # taken up, not started again
            expect(host.locator("#waiting li")).to_have_count(0)  # nobody knocked
        public_room = next(iter(second.app.state.hub.rooms))
        assert [action for action, _ in audit_trail(second, public_room)].count("knock") == 1
    finally:
        first.stop()
        if second is not None:
            second.stop()


# Whether every peer connection the page made since the marked ones has decoded video.
NEW_PEERS_DECODE = """async () => {
  const peers = [...window.visittCall.peers.values()];
  if (!peers.length || peers.some(({pc}) => pc.marked)) return false;
  for (const {pc} of peers) {
    let frames = 0;
    (await pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") frames += r.framesDecoded || 0; });
    if (frames < 5) return false;
  }
  return true;
}"""


def test_after_sound_and_picture_were_cut_off_too_a_new_connection_brings_them_back(  # type: ignore[no-untyped-def]
        tmp_path: Path, browser) -> None:
    coturn = Coturn(tmp_path)  # every call relayed, so killing coturn cuts the media off for sure
    coturn.start()
    server = LiveServer(make_settings(tmp_path, reconnect_grace=30.0, turn_secret=SECRET, turn_urls=(coturn.url,),
                                      ice_transport_policy="relay", turn_ttl=600)).start()
    try:
        with call_between(server, browser) as (host, patient):
            for page in (host, patient):
                page.evaluate(MARK_PEERS)
            coturn.kill()
            patient.context.set_offline(True)  # a phone in a tunnel: no media, no socket
            (socket,) = [c for c in server.app.state.connections.open if c.role == "patient"]
            server.call(socket.websocket.close(4000))
            patient.wait_for_timeout(2500)
            coturn.start()
            patient.context.set_offline(False)

            deadline = time.monotonic() + 15
            while not (host.evaluate(NEW_PEERS_DECODE) and patient.evaluate(NEW_PEERS_DECODE)):
                assert time.monotonic() < deadline, "no picture on a new connection within 15 s"
                patient.wait_for_timeout(200)
            expect(patient.locator("#call")).to_be_visible()
            expect(host.locator("#tiles figure.away")).to_have_count(0)
            expect(host.locator("#waiting li")).to_have_count(0)  # nobody knocked
    finally:
        server.stop()
        coturn.kill()


def test_a_connection_that_carries_nothing_while_the_sockets_are_up_is_renewed(  # type: ignore[no-untyped-def]
        server: LiveServer, browser) -> None:
    """The call's watchdog: sound stopped and the sockets fine, so no rejoin renews the connection, and
    nothing the browser does brings the sound back (here the patient's connection is closed behind the
    call's back; on a real network, an ICE restart that crossed a renewal and left each side answering a
    connection the other no longer has). After a while of silence the watchdog restarts and then renews it."""
    with call_between(server, browser) as (host, patient):
        for page in (host, patient):
            page.evaluate(MARK_PEERS)
            page.evaluate("""() => {
              window.stuck = [];
              window.visittCall.addEventListener("stuck", (event) => window.stuck.push(event.detail));
            }""")
        (socket,) = [c for c in server.app.state.connections.open if c.role == "patient"]
        patient.evaluate("() => [...window.visittCall.peers.values()][0].pc.close()")
        deadline = time.monotonic() + 60  # 6 s of silence, then a restart and a renewal; generous for a loaded machine
        while not (host.evaluate(NEW_PEERS_DECODE) and patient.evaluate(NEW_PEERS_DECODE)):
            assert time.monotonic() < deadline, "no picture on a new connection within 60 s"
            patient.wait_for_timeout(500)
        assert picture_grows(patient) and picture_grows(host)
        stuck = patient.evaluate("() => window.stuck") + host.evaluate("() => window.stuck")
        assert any(event["renewing"] for event in stuck), stuck
        # the sockets carried on: no reconnect, nobody knocked
        assert [c for c in server.app.state.connections.open if c.role == "patient"] == [socket]
        expect(host.locator("#waiting li")).to_have_count(0)
