"""The privacy pause and the identity check end to end in Chromium with fake camera and microphone.

The patient presses Pause: on both sides the outgoing sound and picture stop (the bytes sent by
every outbound RTP stream stop growing) and both screens say why; only the clinician can resume,
and then media flows again with each person's own microphone and camera choice. The clinician
records that the patient showed photo ID, and the patient asks to see the clinician's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from visitt.store import audit
from visitt.store.models import IdentityCheck, IdentityMethod, Participant
from visitt.testing import LiveServer

from .browser import INBOUND, MARK_PEERS, SAME_PEERS, call_between, picture_grows, until
from .conftest import make_settings
from .eventually import eventually

pytestmark = pytest.mark.browser

# Sums outbound RTP bytes per kind over every peer connection of the page's call.
OUTBOUND = """async () => {
  const out = {audio: 0, video: 0};
  for (const {pc} of window.visittCall.peers.values()) {
    (await pc.getStats()).forEach((r) => { if (r.type === "outbound-rtp") out[r.kind] += r.bytesSent || 0; });
  }
  return out;
}"""
TRACKS = "() => Object.fromEntries(window.visittCall.local.getTracks().map((t) => [t.kind, t.enabled]))"
INTERVAL_MS = 1500


def growth(pages: dict[str, Page]) -> dict[str, dict[str, int]]:
    """How many bytes each page sent per kind during the same INTERVAL_MS."""
    before = {name: page.evaluate(OUTBOUND) for name, page in pages.items()}
    next(iter(pages.values())).wait_for_timeout(INTERVAL_MS)
    after = {name: page.evaluate(OUTBOUND) for name, page in pages.items()}
    return {name: {kind: after[name][kind] - before[name][kind] for kind in ("audio", "video")} for name in pages}


def test_pause_stops_media_everywhere_and_the_clinician_resumes(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with call_between(server, browser) as (host, patient):
        pages = {"clinician": host, "patient": patient}
        host.wait_for_timeout(1000)  # past the ramp-up of the first second
        flowing = growth(pages)
        for side in flowing.values():
            assert side["audio"] > 0 and side["video"] > 0, flowing

        # The patient pauses: someone came into the room.
        pause = patient.get_by_role("button", name="Pause", exact=True)
        expect(patient.get_by_label("Reason for pausing")).to_have_value("someone_entered")
        pause.click()
        for page in pages.values():
            banner = page.get_by_role("alert").filter(has_text="The consultation is paused")
            expect(banner).to_be_visible()
            expect(banner).to_contain_text("Someone came into the room.")
        expect(patient.locator("#paused")).to_contain_text("You paused the consultation.")
        expect(host.locator("#paused")).to_contain_text("Kari Nordmann paused the consultation.")
        expect(pause).to_be_disabled()
        expect(patient.get_by_role("button", name="Resume")).to_have_count(0)
        def quiet() -> dict[str, dict[str, int]] | None:  # once what was encoded and in flight has gone out
            paused = growth(pages)
            return paused if all(paused[name][kind] <= flowing[name][kind] * 0.05
                                 for name in pages for kind in ("audio", "video")) else None

        eventually(quiet, f"no more than 5 % of {flowing} while paused", timeout=15)
        assert patient.evaluate(TRACKS) == host.evaluate(TRACKS) == {"audio": False, "video": False}

        # Only the clinician resumes; media flows again.
        host.get_by_role("button", name="Resume").click()
        for page in pages.values():
            expect(page.locator("#paused")).to_be_hidden()
        def flowing_again() -> dict[str, dict[str, int]] | None:
            resumed = growth(pages)
            return resumed if all(resumed[name][kind] > flowing[name][kind] * 0.3
                                  for name in pages for kind in ("audio", "video")) else None

        eventually(flowing_again, f"more than 30 % of {flowing} once resumed", timeout=15)

        # Resuming gives back each person's own choice: the patient's microphone stays off.
        patient.get_by_role("button", name="Microphone").click()
        host.get_by_role("button", name="Pause", exact=True).click()
        expect(patient.locator("#paused")).to_be_visible()
        assert patient.evaluate(TRACKS) == {"audio": False, "video": False}
        host.get_by_role("button", name="Resume").click()
        expect(patient.locator("#paused")).to_be_hidden()
        patient.wait_for_function("() => window.visittCall.local.getVideoTracks()[0].enabled")
        assert patient.evaluate(TRACKS) == {"audio": False, "video": True}
        assert host.evaluate(TRACKS) == {"audio": True, "video": True}

        # The clinician records that the patient showed photo ID; both screens show the badge.
        entry = host.locator("#checks li", has_text="Kari Nordmann")
        expect(entry).to_contain_text("Identity not checked")
        entry.get_by_text("Check identity").click()
        entry.get_by_label("How was identity established?").select_option(label="Photo ID shown on camera")
        entry.get_by_role("button", name="Save").click()
        expect(entry).to_contain_text("ID checked: photo ID")
        expect(host.locator("#tiles figure:not(.self) .id-badge")).to_have_text("ID checked: photo ID")
        expect(patient.locator("#tiles figure.self .id-badge")).to_have_text("ID checked: photo ID")

        # The patient asks to see the clinician's ID.
        patient.get_by_role("button", name="Ask the clinician to show ID").click()
        expect(patient.get_by_text("The clinician has been asked to show their ID.")).to_be_visible()
        expect(host.get_by_role("alert").filter(has_text="Kari Nordmann asks you to show your ID.")).to_be_visible()

    with server.database.session() as session:
        participant = session.scalars(select(Participant)).one()
        (check,) = session.scalars(select(IdentityCheck)).all()
        assert (check.participant_id, check.method, check.note) == (participant.id, IdentityMethod.photo_id, "")
        events: list[Any] = audit.events(session, room_id=participant.room_id)
        rows = [(e.action, e.actor.split(":")[0], e.subject, e.detail) for e in events
                if e.action in ("pause", "resume", "identify", "id_requested")]
    subject = f"participant:{participant.public_id}"
    assert rows == [
        ("pause", "participant", "", {"reason": "someone_entered"}), ("resume", "staff", "", {}),
        ("pause", "staff", "", {"reason": "someone_entered"}), ("resume", "staff", "", {}),
        ("identify", "staff", subject, {"method": "photo_id"}), ("id_requested", "participant", "", {}),
    ]


def test_a_socket_that_drops_during_the_pause_comes_back_on_the_same_connection(  # type: ignore[no-untyped-def]
        tmp_path: Path, browser) -> None:
    server = LiveServer(make_settings(tmp_path, reconnect_grace=30.0)).start()
    try:
        with call_between(server, browser) as (host, patient):
            patient.get_by_role("button", name="Pause", exact=True).click()
            expect(host.locator("#paused")).to_be_visible()
            for page in (host, patient):
                page.evaluate(MARK_PEERS)
            patient.wait_for_timeout(1500)  # more than a second without a packet either way: silence on purpose
            (socket,) = [c for c in server.app.state.connections.open if c.role == "patient"]
            server.call(socket.websocket.close(4000))
            patient.wait_for_function("() => window.visittCall.peers.size > 0 && "
                                      "[...window.visittCall.peers.values()].every((peer) => peer.restartedAt > 0)")
            expect(patient.locator("#paused")).to_be_visible()
            assert patient.evaluate(SAME_PEERS) and host.evaluate(SAME_PEERS)  # not renewed for a silence

            host.get_by_role("button", name="Resume").click()
            expect(patient.locator("#paused")).to_be_hidden()
            for page in (host, patient):
                until(page, f"() => ({INBOUND})().then((r) => r.video > 0)", what="a picture decoded after Resume")
            assert picture_grows(patient) and picture_grows(host)
            assert patient.evaluate(SAME_PEERS) and host.evaluate(SAME_PEERS)
    finally:
        server.stop()
