"""Ready before the admit, in Chromium: the clinician's camera and a peer connection for each waiting
patient are made while they wait (``call.js`` ``prepareConnection``), and the waiting patient's page
opens its socket and a connection of its own - yet nothing reaches the waiting patient before the
clinician lets them in: no offer, no ICE candidate, no media, and no ICE servers either.

The pages' ``RTCPeerConnection`` objects are observed by wrapping the browser's constructor in an
init script (the page's own code is untouched): each one is kept in ``window.connections``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from visitt.testing import LiveServer

from .browser import DESK, PHONE, sign_in, until, wait_for_media
from .peers import book

pytestmark = pytest.mark.browser

OBSERVE = """(() => {
  window.connections = [];
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    window.connections.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
  window.RTCPeerConnection.generateCertificate = Native.generateCertificate;
})()"""
# Each connection's state, and the RTP and ICE figures of its statistics.
CONNECTIONS = """async () => Promise.all(window.connections.map(async (pc) => {
  const seen = {bytesSent: 0, bytesReceived: 0, candidatePairs: 0, localCandidates: 0};
  (await pc.getStats()).forEach((r) => {
    if (r.type === "outbound-rtp") seen.bytesSent += r.bytesSent || 0;
    if (r.type === "inbound-rtp") seen.bytesReceived += r.bytesReceived || 0;
    if (r.type === "candidate-pair") seen.candidatePairs += 1;
    if (r.type === "local-candidate") seen.localCandidates += 1;
  });
  return {signaling: pc.signalingState, ice: pc.iceConnectionState, gathering: pc.iceGatheringState,
          local: Boolean(pc.localDescription), remote: Boolean(pc.remoteDescription),
          servers: pc.getConfiguration().iceServers.length, senders: pc.getSenders().length, ...seen};
}))"""


# An offer of a connection the page's call has nothing to do with (audio and video, as the patient's).
FOREIGN_OFFER = """async () => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("audio");
  pc.addTransceiver("video");
  const offer = await pc.createOffer();
  pc.close();
  return offer.sdp;
}"""


def untouched(connection: dict[str, Any]) -> bool:
    """Made ready and nothing more: no description either way, nothing gathered, nothing sent or received."""
    return (connection["signaling"] == "stable" and connection["ice"] == "new" and connection["gathering"] == "new"
            and not connection["local"] and not connection["remote"] and connection["servers"] == 0
            and connection["bytesSent"] == connection["bytesReceived"] == 0
            and connection["candidatePairs"] == connection["localCandidates"] == 0)


def answered_ahead(connection: dict[str, Any]) -> bool:
    """The clinician's prepared connection once the waiting patient's offer has come (``offer_ahead``): that
    offer and the answer set, its own candidates gathered and held back. The offer had no candidates, so there
    is no pair of candidates to check: nothing sent or received."""
    return (connection["signaling"] == "stable" and connection["remote"] and connection["local"]
            and connection["candidatePairs"] == 0 and connection["bytesSent"] == connection["bytesReceived"] == 0)


def messages_sent(page: Page) -> list[dict[str, Any]]:
    """Records every message the page's signaling socket sends, from now on."""
    sent: list[dict[str, Any]] = []

    def on_socket(socket: Any) -> None:
        socket.on("framesent", lambda payload: sent.append(json.loads(payload)))
    page.on("websocket", on_socket)
    return sent


def messages_received(page: Page) -> list[str]:
    """Records the type of every message the page's signaling socket receives, from now on."""
    received: list[str] = []

    def on_socket(socket: Any) -> None:
        socket.on("framereceived", lambda payload: received.append(_type(payload)))
    page.on("websocket", on_socket)
    return received


def ufrag(sdp: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in sdp.splitlines() if line.startswith("a=ice-ufrag:"))


def _type(payload: str | bytes) -> str:
    return str(json.loads(payload).get("type"))


def test_clinician_and_patient_are_ready_before_the_admit_and_the_patient_gets_nothing(  # type: ignore[no-untyped-def]
        server: LiveServer, browser) -> None:
    clinic = browser.new_context(**DESK)
    phone = browser.new_context(**PHONE)
    clinic.add_init_script(OBSERVE)
    phone.add_init_script(OBSERVE)
    try:
        host = clinic.new_page()
        heard = messages_received(host)
        host_sent = messages_sent(host)
        sign_in(host, server.url)
        preview = host.locator("#ready-preview")
        expect(preview).to_be_hidden()  # nobody waiting: the camera is off
        assert host.evaluate("() => window.connections.length") == 0

        join_url, _ = book(server)
        patient = phone.new_page()
        received = messages_received(patient)
        sent = messages_sent(patient)
        patient.goto(join_url)
        patient.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        patient.get_by_label("Your full name").fill("Kari Nordmann")
        patient.get_by_role("button", name="Join").click()
        expect(patient.get_by_role("status").filter(has_text="has been notified")).to_be_visible()

        # The knock turns the clinician's camera on, with its preview, and makes a connection ready.
        expect(host.locator("#waiting li", has_text="Kari Nordmann")).to_be_visible()
        expect(preview).to_be_visible()
        expect(preview).to_contain_text("Your camera is on")
        host.wait_for_function("() => document.querySelector('#ready-preview video').videoWidth > 0")
        host.wait_for_function("() => window.connections.length === 1")
        # ... and the patient's page one of its own, once its knock was heard.
        patient.wait_for_function("() => window.connections.length === 1")
        # The patient's page hands its written offer over, without a candidate; the clinician's page answers it
        # ahead, holding its candidates back: nothing to check, nothing sent.
        until(host, "() => Boolean(window.connections[0].localDescription)", what="the offer answered ahead")
        (offer,) = [message for message in sent if message["type"] == "offer_ahead"]
        assert "a=candidate" not in offer["sdp"] and "offer_ahead" in heard
        (connection,) = host.evaluate(CONNECTIONS)
        assert answered_ahead(connection), connection
        (connection,) = patient.evaluate(CONNECTIONS)
        assert untouched(connection), connection
        for page in (host, patient):
            (connection,) = page.evaluate(CONNECTIONS)
            assert connection["senders"] == 2  # the camera and the microphone, not sending

        # What the waiting patient's page has heard: who it is and that it waits; nothing of the call, not the
        # clinician's answer nor a candidate of theirs.
        assert set(received) <= {"welcome", "waiting", "ping", "pong"}, received
        assert "waiting" in received

        host.locator("#waiting li", has_text="Kari Nordmann").get_by_role("button", name="Admit").click()
        wait_for_media(host)
        wait_for_media(patient)
        # The call runs on the connections made while waiting, the clinician's on the answer written ahead: none
        # was made at the admit (an offer other than the one answered ahead would have had a fresh connection).
        for page in (host, patient):
            (connection,) = page.evaluate(CONNECTIONS)
            assert connection["ice"] in ("connected", "completed") and connection["bytesReceived"] > 0, connection
        expect(preview).to_be_hidden()  # the self-view of the call shows the camera now
        assert "admitted" in received and "signal" in received
        # The answer left at the admission, once, with the candidates in it, marked with the offer it answers
        # (the patient's offer that came after it was not answered again).
        answers = [m for m in host_sent if m["type"] == "signal" and m.get("description", {}).get("type") == "answer"]
        assert len(answers) == 1 and answers[0]["answers"] == ufrag(offer["sdp"]), answers
        assert "a=candidate" in answers[0]["description"]["sdp"]
    finally:
        clinic.close()
        phone.close()


def test_the_clinicians_camera_goes_off_when_nobody_is_waiting_any_more(  # type: ignore[no-untyped-def]
        server: LiveServer, browser) -> None:
    clinic = browser.new_context(**DESK)
    phone = browser.new_context(**PHONE)
    clinic.add_init_script(OBSERVE)
    try:
        host = clinic.new_page()
        sign_in(host, server.url)
        join_url, _ = book(server)
        patient = phone.new_page()
        patient.goto(join_url)
        patient.get_by_label("Your full name").fill("Kari Nordmann")
        patient.get_by_role("button", name="Join").click()
        expect(host.locator("#ready-preview")).to_be_visible()
        host.wait_for_function("() => window.connections.length === 1")

        patient.close()  # gave up waiting
        expect(host.locator("#waiting li")).to_have_count(0)
        expect(host.locator("#ready-preview")).to_be_hidden()
        host.wait_for_function("() => window.connections.every((pc) => pc.signalingState === 'closed')")
        host.wait_for_function("() => !document.querySelector('#ready-preview video').srcObject"
                               " || document.querySelector('#ready-preview video').srcObject.getTracks()"
                               ".every((track) => track.readyState === 'ended')")
    finally:
        clinic.close()
        phone.close()


def test_an_answer_made_ahead_for_an_offer_the_page_no_longer_has_is_dropped(  # type: ignore[no-untyped-def]
        server: LiveServer, browser) -> None:
    """The answer that leaves at the admission says which offer it answers (``answers``); a page whose offer
    it is not drops it, and its own offer is answered the usual way. Here the clinician's page answered another
    connection's offer ahead (the patient's ``offer_ahead`` swapped on its way), as after a camera changed while
    waiting: taken, that answer would have the patient check against a connection that expects someone else."""
    clinic = browser.new_context(**DESK)
    phone = browser.new_context(**PHONE)
    clinic.add_init_script(OBSERVE)
    try:
        host = clinic.new_page()
        host_sent = messages_sent(host)
        sign_in(host, server.url)

        join_url, _ = book(server)
        patient = phone.new_page()
        swapped: list[str] = []

        def route(ws: Any) -> None:  # the patient's socket, its offer_ahead swapped for another connection's
            server_side = ws.connect_to_server()

            def to_server(message: str | bytes) -> None:
                body = json.loads(message)
                if body["type"] == "offer_ahead":
                    body["sdp"] = patient.evaluate(FOREIGN_OFFER)
                    swapped.append(body["sdp"])
                server_side.send(json.dumps(body))
            ws.on_message(to_server)
        patient.route_web_socket("**/ws/v**", route)
        patient_sent = messages_sent(patient)
        patient.goto(join_url)
        patient.get_by_label("Your full name").fill("Kari Nordmann")
        patient.get_by_role("button", name="Join").click()
        expect(host.locator("#waiting li", has_text="Kari Nordmann")).to_be_visible()
        until(host, "() => window.connections.some((pc) => pc.localDescription)", what="the swapped offer answered ahead")
        assert len(swapped) == 1

        host.locator("#waiting li", has_text="Kari Nordmann").get_by_role("button", name="Admit").click()
        wait_for_media(host)
        wait_for_media(patient)
        answers = [m for m in host_sent if m["type"] == "signal" and m.get("description", {}).get("type") == "answer"]
        assert answers[0].get("answers") == ufrag(swapped[0]), answers  # made ahead, for the other offer: dropped
        assert [m.get("answers") for m in answers[1:]] == [None], answers  # the page's own offer, answered
        offers = [m for m in patient_sent if m["type"] == "signal" and m.get("description", {}).get("type") == "offer"]
        assert len(offers) == 1 and ufrag(offers[0]["description"]["sdp"]) != ufrag(swapped[0])
    finally:
        clinic.close()
        phone.close()
