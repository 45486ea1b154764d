"""The clinician's dashboard in Chromium, at a desk (1280 × 800) and on a phone (390 × 844): admitting brings the
call into view with the focus; End consultation, the pause banner and Resume stay on the screen however far
the page is scrolled; the "turn on notifications" question, once answered, does not come back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from visitt.testing import LiveServer

from .browser import PHONE, knock, sign_in
from .peers import book

pytestmark = pytest.mark.browser

SCREENS = {"desk": {"viewport": {"width": 1280, "height": 800}, "locale": "en-US"},
           "phone": {**PHONE, "viewport": {"width": 390, "height": 844}}}


def on_screen(page: Page, locator: Locator) -> None:
    """``locator`` lies wholly inside the viewport and nothing covers its middle (a click there reaches it)."""
    box = locator.bounding_box()
    size = page.viewport_size
    assert box is not None and size is not None
    assert box["y"] >= 0 and box["y"] + box["height"] <= size["height"] + 0.5, (box, size)
    assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"] + 0.5, (box, size)
    uncovered = locator.evaluate("(element, [x, y]) => { const hit = document.elementFromPoint(x, y);"
                                 " return hit === element || element.contains(hit); }",
                                 [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    assert uncovered, box


def scroll_to(page: Page, where: str) -> None:
    page.evaluate("(where) => window.scrollTo(0, where === 'top' ? 0 : document.documentElement.scrollHeight)",
                  where)
    page.wait_for_function("(where) => where === 'top' ? window.scrollY === 0 : "
                           "Math.ceil(window.scrollY + innerHeight) >= document.documentElement.scrollHeight - 1",
                           arg=where)


@pytest.fixture(params=list(SCREENS))
def clinician(request: pytest.FixtureRequest, server: LiveServer, browser: Any) -> Iterator[tuple[Page, Page]]:
    """The clinician's dashboard on the screen of the parameter, with a long list of appointments, and a
    patient on a phone knocking."""
    clinic = browser.new_context(**SCREENS[request.param])
    mobile = browser.new_context(**PHONE)
    try:
        for n in range(10):  # the page is taller than the screen
            book(server, f"Pasient {n}", days=n + 1)
        join_url, _token = book(server, "Kari Nordmann")
        host = clinic.new_page()
        sign_in(host, server.url)
        patient = knock(mobile.new_page(), join_url, "Kari Nordmann")
        yield host, patient
    finally:
        clinic.close()
        mobile.close()


def test_the_call_comes_into_view_and_its_controls_stay_there(clinician: tuple[Page, Page]) -> None:
    host, patient = clinician
    host.locator("#waiting li", has_text="Kari Nordmann").get_by_role("button", name="Admit").click()
    call = host.get_by_role("region", name="Consultation")
    expect(call).to_be_visible()
    expect(call).to_be_focused()
    pictures = host.locator("#tiles").bounding_box()  # the call's pictures fill the screen from near its top
    size = host.viewport_size
    assert pictures is not None and size is not None and 0 <= pictures["y"] < size["height"] / 3, pictures
    end = host.get_by_role("button", name="End consultation")
    for where in ("bottom", "top", "bottom"):
        scroll_to(host, where)
        on_screen(host, end)

    patient.get_by_role("button", name="Pause", exact=True).click()
    banner = host.locator("#paused")
    resume = host.get_by_role("button", name="Resume")
    expect(resume).to_be_visible()
    for where in ("top", "bottom"):
        scroll_to(host, where)
        on_screen(host, banner.locator(".paused-title"))
        on_screen(host, resume)
        on_screen(host, end)
    host.screenshot(path=f"/tmp/dashboard-paused-{host.viewport_size['width']}.png")  # type: ignore[index]
    resume.click()
    expect(banner).to_be_hidden()
    scroll_to(host, "top")
    on_screen(host, end)
    # the page keeps room for the bar: the last appointment can be scrolled clear of it
    scroll_to(host, "bottom")
    last = host.locator("table.appointments tbody tr").last
    bar = host.locator("#call-toolbar").bounding_box()
    row = last.bounding_box()
    assert bar is not None and row is not None and row["y"] + row["height"] <= bar["y"] + 0.5, (row, bar)
    end.click()
    expect(call).to_be_hidden()


@pytest.mark.parametrize("grant", [False, True])
def test_the_notifications_question_is_asked_once_per_browser(server: LiveServer, browser: Any, grant: bool) -> None:
    context = browser.new_context(**SCREENS["desk"])
    other = browser.new_context(**SCREENS["desk"])
    try:
        page = context.new_page()
        sign_in(page, server.url)
        ask = page.get_by_role("button", name="Turn on sound and desktop notifications")
        expect(ask).to_be_visible()
        if grant:
            context.grant_permissions(["notifications"], origin=server.url)
        ask.click()
        expect(ask).to_be_hidden()
        # the browser's answer, kept in this browser: granted, or (headless, no grant) denied or dismissed
        answers = ["granted"] if grant else ["denied", "dismissed"]
        page.wait_for_function("(answers) => answers.includes(localStorage.getItem('visitt.alerts'))", arg=answers)
        page.reload()
        expect(page.get_by_role("heading", name="Waiting room")).to_be_visible()
        expect(ask).to_be_hidden()
        # another browser has not answered yet
        elsewhere = other.new_page()
        sign_in(elsewhere, server.url)
        expect(elsewhere.get_by_role("button", name="Turn on sound and desktop notifications")).to_be_visible()
    finally:
        context.close()
        other.close()
