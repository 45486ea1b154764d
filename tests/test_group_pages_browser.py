"""A group consultation of six through the consultation pages and a real Janus: the clinician's page and a
patient's page in Chromium, and four more participants as aiortc peers. Each page shows the active speaker
large and the others as thumbnails, decodes the pictures it shows (at most ``VISITT_MAX_VIDEO_STREAMS``, 4
here, of the 5 others) and hears all five; each aiortc peer decodes four of the five others'
pictures (max_video, which Visitt holds to) and hears all five. The guests are shown
by their first names only, with no phone number anywhere. Someone heard only who becomes the active speaker
gets their picture received and large. The patient's page reloaded takes its place back: everyone receives it
again, and it receives everyone again itself (four pictures decoded, five heard). Removal in Visitt kicks from Janus: the removed peer, which keeps its
connections open, stops receiving, and nobody receives the removed one's frames any more. The patient
leaving does not end the call; the clinician's End ends it for everyone.

With Janus down, the booking form shows the staff member the clear error and books nothing, and a one-to-one
consultation still works in the browser. One group is built once, for all of it: the suite has a time budget."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from playwright.sync_api import Browser, Page, expect

from visitt.testing import LiveServer

from .browser import DESK, call_between, sign_in, until
from .conftest import make_settings
from .janus import SECRET, JanusServer, free_port
from .peers import WsClient, run
from .test_sfu import GroupPeer, _book_group

ARTEFACTS = Path(__file__).resolve().parent.parent / "test-artefacts"
MEMBERS = [("Ola Nordmann", (240, 140, 20)), ("Per Hansen", (30, 200, 60)), ("Liv Berg", (200, 40, 160)),
           ("Nils Dahl", (20, 60, 220))]
PHONE_360 = {"viewport": {"width": 360, "height": 640}, "is_mobile": True, "has_touch": True, "locale": "en-US"}
DESK_1280 = {**DESK, "viewport": {"width": 1280, "height": 800}}

# What the page receives from each participant: frames decoded, sound packets, and whether it asked for
# their picture (GroupCall: at most max_video pictures).
SEEN = """async () => {
  const call = window.visittCall;
  const out = {};
  if (!call || !call.sending) return out;
  for (const [id, {pc, video}] of call.peers.entries()) {
    const seen = {video: 0, audio: 0, shown: video};
    (await pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") seen.video += r.framesDecoded || 0;
      if (r.type === "inbound-rtp" && r.kind === "audio") seen.audio += r.packetsReceived || 0;
    });
    out[id] = seen;
  }
  return out;
}"""


def wait_until(page: Page, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 90.0) -> dict[str, Any]:
    """SEEN on ``page`` once ``check`` holds for it (generous: six participants on a loaded machine)."""
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = page.evaluate(SEEN)
        if check(seen):
            return seen
        page.wait_for_timeout(250)
    raise AssertionError(f"{what} on {page.url}: {seen}")


def everyone(others: int, shown: int) -> Callable[[dict[str, Any]], bool]:
    """Sound from all ``others``, pictures decoded from the ``shown`` whose picture the page asked for."""
    return lambda seen: (len(seen) == others and all(entry["audio"] > 0 for entry in seen.values())
                         and sum(entry["shown"] for entry in seen.values()) == shown
                         and all(entry["video"] > 5 for entry in seen.values() if entry["shown"]))


def grows(page: Page, ids: set[str], timeout: float = 30.0, kind: str = "video") -> bool:
    """Whether the page decodes more frames (``kind`` "audio": receives more packets) of each of ``ids`` within
    ``timeout`` s."""
    start = page.evaluate(SEEN)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        now = page.evaluate(SEEN)
        if all(now.get(id, {}).get(kind, 0) > start.get(id, {}).get(kind, 0) + 5 for id in ids):
            return True
    return False


class Member:
    """One aiortc participant: knocks, is admitted by the clinician's page, sends a colour and a tone to
    Janus and receives everyone else, counting the frames of each (``frames``, ``last``: when the last came)."""

    def __init__(self, server: LiveServer, token: str, name: str, colour: tuple[int, int, int]) -> None:
        self.server, self.token, self.name, self.colour = server, token, name, colour
        self.id = ""
        self.frames: dict[str, int] = {}
        self.last: dict[str, float] = {}
        self.socket: WsClient | None = None
        self.reloaded = threading.Event()  # the test has reloaded a page: a feed that comes now is a new one
        self.neighbour: Member | None = None  # the participant whose picture this one does not ask for

    async def take(self, other: str, track: MediaStreamTrack) -> None:
        try:
            while True:
                await track.recv()
                self.frames[other] = self.frames.get(other, 0) + 1
                self.last[other] = time.monotonic()
        except MediaStreamError:
            pass  # the connection closed

    async def run(self, release: threading.Event) -> None:
        async with await WsClient.guest(self.server, self.token) as socket:
            self.socket = socket
            self.id = (await socket.hello())["id"]
            await socket.send({"type": "knock", "name": self.name})
            admitted = await socket.expect("admitted", timeout=120)
            assert (admitted["media"], admitted["max_video"]) == ("sfu", 4)
            peer = GroupPeer(socket, self.colour)
            takers: list[asyncio.Task[None]] = []
            try:
                await peer.publish()
                while len(peer.feeds) < 5:
                    peer.feeds.add((await socket.expect("sfu_feed", timeout=120))["participant"])
                # Like a page: the pictures of max_video others (Visitt offers no more), everyone's sound. The
                # one heard only is the next aiortc participant, so both Chromium pages are always seen.
                heard_only = self.neighbour.id if self.neighbour else ""
                pictures = set(sorted(peer.feeds - {heard_only})[:admitted["max_video"]])

                async def receive(other: str) -> None:
                    old = peer.receiving.get(other)
                    tracks = await peer.subscribe(other, video=other in pictures)
                    if old is not None:
                        await old.close()
                    if "video" in tracks:
                        takers.append(asyncio.create_task(self.take(other, tracks["video"])))
                    takers.append(asyncio.create_task(self.take(f"{other}/audio", tracks["audio"])))

                for other in sorted(peer.feeds):
                    await receive(other)

                async def again() -> None:  # someone sends afresh (the reloaded page): receive the new feed
                    while True:
                        other = (await socket.expect("sfu_feed", timeout=None))["participant"]
                        if self.reloaded.is_set():  # before, a second sfu_feed only repeats what published said
                            await receive(other)

                takers.append(asyncio.create_task(again()))
                await asyncio.to_thread(release.wait, 600)  # the connections stay open until the test is done
            finally:
                for task in takers:
                    task.cancel()
                await peer.close()

    def got(self, type_: str) -> bool:
        """Whether the server has sent this participant a message of ``type_`` (read from the test's thread)."""
        return self.socket is not None and any(message.get("type") == type_ for message in list(self.socket.received))

    def receives(self, other: str, within: float = 3.0) -> bool:
        """Whether ``other``'s picture or sound came within the last ``within`` seconds."""
        latest = max(self.last.get(other, 0.0), self.last.get(f"{other}/audio", 0.0))
        return time.monotonic() - latest < within


@pytest.mark.browser
def test_a_group_of_six_through_the_pages(browser: Browser, janus: JanusServer, tmp_path: Path) -> None:
    # a reloaded page takes its place back within the grace (the tests' default is a moment)
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET,
                                      reconnect_grace=30)).start()
    clinic = browser.new_context(**DESK_1280)
    mobile = browser.new_context(**PHONE_360)
    release = threading.Event()
    members: list[Member] = []
    side: threading.Thread | None = None
    try:
        patient_token, companion_token = _book_group(server)
        owner = {"Authorization": f"Bearer {server.token}"}
        appointment = server.get(f"{server.url}/api/v1/appointments", headers=owner).json()[0]["id"]
        tokens = [companion_token]
        for number, (name, _) in enumerate(MEMBERS[1:], start=1):
            invited = server.post(f"{server.url}/api/v1/appointments/{appointment}/participants", headers=owner,
                                  json={"name": name, "kind": "patient", "phone": f"412 34 5{number}0"})
            assert invited.status_code == 201, invited.text
            tokens.append(invited.json()["join_url"].rsplit("/v/", 1)[1])
        members = [Member(server, token, name, colour) for token, (name, colour) in zip(tokens, MEMBERS)]
        for number, member in enumerate(members):
            member.neighbour = members[(number + 1) % len(members)]

        host = clinic.new_page()
        sign_in(host, server.url)
        patient = mobile.new_page()
        patient.goto(f"{server.url}/v/{patient_token}")
        patient.locator("#name").fill("Kari Nordmann")
        patient.locator("#join").click()
        loop_ready = threading.Event()

        async def everyone_else() -> None:
            loop_ready.set()
            await asyncio.gather(*(member.run(release) for member in members))

        side = threading.Thread(target=lambda: run(everyone_else()), daemon=True)
        side.start()
        loop_ready.wait(10)
        for name in ["Kari Nordmann"] + [name for name, _ in MEMBERS]:  # each let in on their own
            host.locator("#waiting li", has_text=name).locator(".admit").click(timeout=60000)
            host.locator("#waiting li", has_text=name).wait_for(state="detached", timeout=30000)

        # everyone sees and hears everyone: each page and each aiortc peer 4 pictures of 5 (max_video), all 5 heard
        host_seen = wait_until(host, everyone(5, 4), "not every participant seen and heard")
        patient_seen = wait_until(patient, everyone(5, 4), "not every participant seen and heard")
        deadline = time.monotonic() + 90
        while not all(len([o for o in m.frames if "/" not in o and m.frames[o] > 10]) == 4
                      and len([o for o in m.frames if o.endswith("/audio") and m.frames[o] > 10]) == 5
                      for m in members):
            assert time.monotonic() < deadline, {m.name: m.frames for m in members}
            time.sleep(0.25)
        ids = {m.id for m in members}
        assert ids < set(host_seen) and ids < set(patient_seen)

        # first names only for the group's patients, on the patient's page; no phone number anywhere
        captions = patient.locator("#tiles figcaption").all_inner_texts()
        assert sorted(captions) == sorted(["You", "Dr. Ingrid Berg", "Ola", "Per", "Liv", "Nils"]), captions
        text = patient.locator("body").inner_text()
        numbers = ["412 34 567", "412 34 568", "412 34 510", "412 34 520", "412 34 530"]
        html = patient.content()
        assert not any(n in text or n.replace(" ", "") in html for n in numbers), text
        assert {"Ola", "Per", "Liv", "Nils", "Kari"} <= set(host.locator("#tiles figcaption").all_inner_texts())
        # the aiortc participants cannot encrypt their frames: both pages say the call is not end-to-end
        # encrypted (the participant list names who), and the call still runs
        for page in (host, patient):
            expect(page.locator("#e2ee-state")).to_have_text(
                "Not end-to-end encrypted: someone's browser cannot encrypt. The connection is still encrypted.")
        assert patient.locator("#participants .e2ee", has_text="Not end-to-end encrypted").count() >= 4
        # one large picture (the speaker's), the others thumbnails
        for page in (host, patient):
            assert page.locator("#tiles .tile.large").count() == 1

        ARTEFACTS.mkdir(exist_ok=True)
        for page, who in ((patient, "patient"), (host, "clinician")):
            for width, height in ((360, 640), (1280, 800)):
                page.set_viewport_size({"width": width, "height": height})
                toolbar_locator = page.locator("#call .toolbar").first
                toolbar_locator.wait_for(timeout=60000)  # (a socket dropped on a loaded machine comes back first)
                page.evaluate("() => document.getElementById('call').scrollIntoView()")  # admitting scrolled away
                page.wait_for_timeout(500)
                page.screenshot(path=str(ARTEFACTS / f"group-{who}-{width}x{height}.png"))
                toolbar = toolbar_locator.bounding_box()
                assert toolbar is not None and toolbar["y"] + toolbar["height"] <= height + 1, (who, width, toolbar)
        patient.set_viewport_size({"width": 360, "height": 640})
        host.set_viewport_size({"width": 1280, "height": 800})

        # the one heard only becomes the active speaker: their picture is received, and large
        patient.evaluate("() => window.visittSpeaker.stop()")
        heard = next(id for id, entry in patient.evaluate(SEEN).items() if not entry["shown"])
        patient.evaluate("""async (id) => {
          for (let i = 0; i < 15; i++) { window.visittSpeaker.feed(id, 0.5); await new Promise((r) => setTimeout(r, 200)); }
        }""", heard)
        wait_until(patient, lambda seen: seen.get(heard, {}).get("shown") is True and seen[heard]["video"] > 5
                   and sum(entry["shown"] for entry in seen.values()) == 4, "the speaker's picture not received")
        assert patient.locator(f'#tiles .tile.large[data-peer="{heard}"]').count() == 1

        kari = next(id for id in host.evaluate(SEEN) if id not in {m.id for m in members})
        # the patient pauses: nothing leaves either page for Janus, nobody receives her; the clinician resumes
        patient.locator("#pause").click()
        for page in (host, patient):
            page.wait_for_function("() => window.visittCall.sending.getSenders().every((sender) => !sender.track)")
        host.locator("#paused").wait_for()
        deadline = time.monotonic() + 20
        while any(m.receives(kari) for m in members):
            assert time.monotonic() < deadline, "the paused page's picture still arrives"
            time.sleep(0.25)
        host.locator("#resume").click()
        # her sound through Janus to the clinician's page again, and a page's picture to another page (the clinician
        # paused too: everyone does)
        assert grows(host, {kari}, kind="audio"), "the patient's sound does not come back after the pause"
        clinician = next(id for id in patient.evaluate(SEEN) if id not in {m.id for m in members})
        if patient.evaluate(SEEN)[clinician]["shown"]:
            assert grows(patient, {clinician}), "the clinician's picture does not come back after the pause"
        # the clinician checks one patient's identity: that patient's tile says so on the patient's page too
        check = host.locator("#checks li", has_text="Ola")
        check.get_by_text("Check identity").click()
        check.get_by_label("How was identity established?").select_option("known")
        check.get_by_role("button", name="Save").click()
        ola = next(m.id for m in members if m.name.startswith("Ola"))
        patient.locator(f'#tiles [data-peer="{ola}"] .id-badge').filter(has_text="Personally known").wait_for(timeout=10000)
        assert patient.locator("#tiles .id-badge:not(:empty)").count() == 1

        # the patient's page reloaded: it takes its place back, sends afresh, and everyone receives it again
        before = {m.name: m.frames.get(kari, 0) for m in members}
        for member in members:
            member.reloaded.set()
        patient.reload()
        patient.locator("#call").wait_for(timeout=60000)  # back in the call, no new knock
        deadline = time.monotonic() + 60
        while not all(m.frames.get(kari, 0) > before[m.name] + 10 and m.receives(kari) for m in members):
            assert time.monotonic() < deadline, ("the reloaded page's picture does not arrive again", before,
                                                 {m.name: m.frames.get(kari) for m in members})
            time.sleep(0.25)
        until(host, """async (id) => {
          const entry = window.visittCall.peers.get(id);
          if (!entry) return false;
          let audio = 0;
          (await entry.pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "audio") audio += r.packetsReceived; });
          return entry.pc.connectionState === "connected" && audio > 50;
        }""", kari, what="the reloaded page heard again on the clinician's page", timeout=60)
        # and the reloaded page itself sees and hears everyone again: max_video pictures decoded, all five heard
        wait_until(patient, everyone(5, 4), "the reloaded page does not see and hear everyone again")

        # removal: the removed peer (its connections left open) stops receiving; nobody receives it any more
        victim = members[-1]
        host.locator("#checks li", has_text="Nils").get_by_role("button", name="Remove from call").click()
        deadline = time.monotonic() + 20
        while not (victim.got("removed") and not any(victim.receives(o) for o in victim.frames)
                   and all(not m.receives(victim.id) for m in members[:-1])):
            assert time.monotonic() < deadline, (victim.got("removed"), victim.last, [m.last for m in members])
            time.sleep(0.25)
        for page in (host, patient):
            page.wait_for_function("(id) => !window.visittCall.peers.has(id) && !document.querySelector(`#tiles [data-peer='${id}']`)",
                                   arg=victim.id, timeout=10000)

        # the patient leaves: the call goes on for the others
        patient.locator("#leave").click()
        assert grows(host, {m.id for m in members[:-1]} & {id for id, e in host.evaluate(SEEN).items() if e["shown"]})
        # the clinician's End ends it for everyone
        host.locator("#end").click()
        deadline = time.monotonic() + 20
        while not all(m.got("ended") for m in members[:-1]):
            assert time.monotonic() < deadline, "End did not end the call for everyone"
            time.sleep(0.25)
    finally:
        release.set()
        if side is not None:
            side.join(60)
        clinic.close()
        mobile.close()
        server.stop()


@pytest.mark.browser
def test_janus_down_a_group_booking_shows_the_error_and_one_to_one_works(browser: Browser, tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=f"http://127.0.0.1:{free_port()}/janus",
                                      janus_api_secret=SECRET)).start()
    try:
        clinic = browser.new_context(**DESK)
        try:
            page = clinic.new_page()
            sign_in(page, server.url)
            page.goto(f"{server.url}/staff/book")
            page.get_by_label("Patient's full name").fill("Kari Nordmann")  # tomorrow at 09:00, as the form has it
            page.get_by_label("Mobile number").fill("412 34 567")
            page.get_by_label("Video is clinically suitable for this consultation.").check()
            page.get_by_label("Group consultation").check()
            page.get_by_role("button", name="Book and send SMS").click()
            error = page.get_by_role("alert").filter(has_text="media server")
            error.wait_for(timeout=20000)
            assert "One-to-one consultations still work" in error.inner_text()
            ARTEFACTS.mkdir(exist_ok=True)
            for width, height in ((360, 640), (1280, 800)):
                page.set_viewport_size({"width": width, "height": height})
                page.screenshot(path=str(ARTEFACTS / f"group-booking-refused-{width}x{height}.png"))
            page.set_viewport_size({"width": 360, "height": 640})
            page.get_by_label("Group consultation").scroll_into_view_if_needed()
            page.screenshot(path=str(ARTEFACTS / "group-booking-choice-360x640.png"))
            assert page.get_by_label("Group consultation").is_checked()  # the form kept what was typed
            owner = {"Authorization": f"Bearer {server.token}"}
            assert server.get(f"{server.url}/api/v1/appointments", headers=owner).json() == []  # nothing booked
        finally:
            clinic.close()
        with call_between(server, browser) as (host, _patient):  # one-to-one: the mesh, no Janus needed
            assert host.evaluate("() => !window.visittCall.sending")
    finally:
        server.stop()
