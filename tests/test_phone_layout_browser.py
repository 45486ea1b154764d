"""The patient's pages on a phone, in Chromium with fake camera and microphone (issue 17, section 2).

Phone sizes are Playwright's mobile emulation (``is_mobile``, ``has_touch``). A real phone's browser keeps
its address bar and toolbar on screen, which the emulation does not draw: each viewport is 56 px shorter
than the screen it stands for (360×640 → 360×584), a fair stand-in for Chrome's bars on Android.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from visitt import demo
from visitt.testing import LiveServer

from .browser import DESK, sign_in, wait_for_media
from .conftest import make_settings
from .peers import book

pytestmark = pytest.mark.browser

CHROME_BARS = 56
# Each state's screenshot, for a person to look at (kept out of git, as tests/test_i18n_browser.py's).
ARTEFACTS = Path(__file__).resolve().parent.parent / "test-artefacts"
PHONES = [(360, 640), (375, 667), (390, 844)]
LANDSCAPE = [(640, 360), (844, 390)]
CLINICIAN = demo.PEOPLE[0][2]
PHONE_NUMBER = "+47 69 86 00 00"  # the demo department's, and VISITT_CLINIC_PHONE's default


def phone(width: int, height: int) -> dict[str, Any]:
    return {"viewport": {"width": width, "height": height - CHROME_BARS}, "is_mobile": True, "has_touch": True,
            "locale": "en-US"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(make_settings(tmp_path_factory.mktemp("phone"))).start()
    yield server
    server.stop()


def inside(page: Page, selector: str, *, min_size: float = 0) -> dict[str, float]:
    """The element's box, asserted to lie wholly inside the viewport (and at least ``min_size`` px each way)."""
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box and size, selector
    assert box["x"] >= 0 and box["y"] >= 0, (selector, box)
    assert box["x"] + box["width"] <= size["width"] + 0.5 and box["y"] + box["height"] <= size["height"] + 0.5, \
        (selector, box, size)
    assert box["width"] >= min_size and box["height"] >= min_size, (selector, box)
    return box


def no_scrolling(page: Page) -> None:
    sizes = page.evaluate("() => [document.scrollingElement.scrollHeight, innerHeight,"
                          " document.scrollingElement.scrollWidth, innerWidth]")
    assert sizes[0] <= sizes[1] and sizes[2] <= sizes[3], sizes


def no_sideways_scrolling_at_double_text(page: Page) -> None:
    """At 200 % text size the page may grow taller, never wider than the screen."""
    page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
    try:
        widths = page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
        assert widths[0] <= widths[1], widths
    finally:
        page.evaluate("() => { document.documentElement.style.fontSize = ''; }")


# Every place the clinic's number is written on the page: each must be inside a tel: link.
PHONE_PLACES = """(number) => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const places = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.textContent.includes(number) && node.parentElement.closest("script") === null)
      places.push(node.parentElement.closest('a[href^="tel:"]')?.getAttribute("href") || "not a link");
  }
  return places;
}"""


def numbers_dial(page: Page) -> int:
    places = page.evaluate(PHONE_PLACES, PHONE_NUMBER)
    assert places and all(place == "tel:+4769860000" for place in places), places
    return len(places)


@pytest.mark.parametrize(("width", "height"), PHONES, ids=[f"{w}x{h}" for w, h in PHONES])
def test_the_lobby_fits_a_phone_screen_without_scrolling(live: LiveServer, browser, width: int,  # type: ignore[no-untyped-def]
                                                         height: int) -> None:
    join_url, _token = book(live, "Kari Nordmann")
    context = browser.new_context(**phone(width, height))
    try:
        page = context.new_page()
        page.goto(join_url)
        page.wait_for_function("() => document.querySelector('#preview').srcObject?.active")
        expect(page.locator("#meet .meeting")).to_contain_text(CLINICIAN)
        expect(page.locator("#meet .meeting")).to_contain_text("Poliklinikk for psykisk helse")
        expect(page.locator("#meet .meeting time")).to_have_text(re.compile(r"\b20\d\d\b.*\d:\d\d"))  # on the clinic's clock, in words
        expect(page.get_by_text("Check that you can see and hear yourself, write your name and press Join.")) \
            .to_be_visible()
        for selector in ("#lobby-title", "#meet .meeting strong", "#meet .meeting time", ".todo", "#preview", "#name"):
            inside(page, selector)
        inside(page, "#join", min_size=44)
        no_scrolling(page)
        ARTEFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / f"phone-lobby-{width}x{height}.png"))
        no_sideways_scrolling_at_double_text(page)
    finally:
        context.close()


def test_waiting_room_call_and_end_on_a_phone(live: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    """Knock → waiting room → admitted → call in portrait and landscape → leave, as the patient sees it;
    with no error in the console on the way, and the clinic's number dialable in every state."""
    clinic = browser.new_context(**DESK)
    mobile = browser.new_context(**phone(360, 640))
    errors: list[str] = []
    try:
        host = clinic.new_page()
        sign_in(host, live.url)
        join_url, _token = book(live, "Kari Waiting")
        patient = mobile.new_page()
        patient.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        patient.on("pageerror", lambda error: errors.append(str(error)))
        patient.goto(join_url)
        patient.wait_for_function("() => document.querySelector('#preview').srcObject?.active")
        assert numbers_dial(patient) >= 1  # the lobby (in the poor-connection advice, hidden till needed)

        # The waiting room: its own heading (focus goes there), a clock that runs, what to do if nobody comes.
        patient.get_by_label("Your full name").fill("Kari Waiting")
        patient.get_by_role("button", name="Join").click()
        heading = patient.get_by_role("heading", name="You are in the waiting room")
        expect(heading).to_be_visible()
        expect(heading).to_be_focused()
        expect(patient.locator("#preview")).to_be_hidden()
        expect(patient.get_by_role("button", name="Join")).to_be_hidden()
        expect(patient.locator("#waited")).not_to_have_text("0:00")  # a second has passed: it counts
        nobody = patient.get_by_text("If nobody lets you in, call the clinic at")
        expect(nobody.get_by_role("link", name=PHONE_NUMBER)).to_have_attribute("href", "tel:+4769860000")
        expect(patient.get_by_role("status")).to_contain_text("has been notified")
        numbers_dial(patient)
        no_sideways_scrolling_at_double_text(patient)
        ARTEFACTS.mkdir(exist_ok=True)
        patient.screenshot(path=str(ARTEFACTS / "phone-waiting-360x640.png"))

        # Admitted: the call takes the whole screen, its heading has the focus.
        host.locator("#waiting li", has_text="Kari Waiting").locator(".admit").click()
        wait_for_media(patient)
        expect(patient.locator("#call-title")).to_be_focused()
        for width, height in [(360, 640), *LANDSCAPE, (390, 844)]:  # screens, less the bars
            patient.set_viewport_size({"width": width, "height": height - CHROME_BARS})
            remote = patient.locator("#tiles figure:not(.self)")
            expect(remote).to_have_count(1)
            video = remote.locator("video")
            # the other person's picture whole, letterboxed rather than cropped, across the screen
            assert video.evaluate("(v) => getComputedStyle(v).objectFit") == "contain"
            box, own = inside(patient, "#tiles figure:not(.self)"), inside(patient, "#tiles figure.self")
            assert box["width"] >= width - 1, box
            assert own["width"] * own["height"] < box["width"] * box["height"] / 4, own
            assert own["x"] + own["width"] > width / 2, own  # in the corner at the end of the line
            for name in ("Microphone", "Camera", "Leave"):
                button = patient.get_by_role("button", name=name, exact=True)
                expect(button).to_be_visible()
                inside(patient, f"#call .toolbar #{button.get_attribute('id')}", min_size=44)
            inside(patient, "#chat > summary", min_size=44)
            no_scrolling(patient)
            patient.screenshot(path=str(ARTEFACTS / f"phone-call-{width}x{height}.png"))
        numbers_dial(patient)
        no_sideways_scrolling_at_double_text(patient)

        # The pin button says what it does, in words as well as the symbol.
        pin = patient.get_by_role("button", name=f"Pin {CLINICIAN}")
        expect(pin).to_contain_text("Pin")
        expect(pin).to_have_attribute("title", f"Pin {CLINICIAN}")

        # A chat message while the chat is folded: the badge on the toolbar's chat button.
        host.get_by_role("button", name="I can't hear you.").click()
        expect(patient.locator("#chat .chat-unread")).to_have_text("1")
        inside(patient, "#chat .chat-unread")

        # Leave: the end, with its heading focused and no "back in the queue" button.
        patient.get_by_role("button", name="Leave", exact=True).click()
        expect(patient.locator("#done-title")).to_be_focused()
        expect(patient.get_by_text("You have left the consultation.")).to_be_visible()
        expect(patient.get_by_role("link", name="Back in the queue")).to_be_hidden()
        expect(patient.locator("#again")).to_be_hidden()
        numbers_dial(patient)
        patient.screenshot(path=str(ARTEFACTS / "phone-end-360x640.png"))
        no_sideways_scrolling_at_double_text(patient)
        patient.wait_for_timeout(300)  # a closing AudioContext reports its failure asynchronously
        assert errors == []
    finally:
        clinic.close()
        mobile.close()


def test_every_page_a_patient_may_see_dials_the_clinic(live: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    """The messages around the call - a wrong link, no code entered, scripts off, the test room - at 360 px."""
    context = browser.new_context(**phone(360, 640))
    try:
        page = context.new_page()
        for path in ("/v/not-a-real-link", "/v", "/test"):
            page.goto(f"{live.url}{path}")
            expect(page.get_by_role("heading").first).to_be_visible()
            numbers_dial(page)
            no_sideways_scrolling_at_double_text(page)
    finally:
        context.close()

