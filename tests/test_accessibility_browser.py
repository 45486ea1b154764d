"""Accessibility measured: axe-core (the ``axe-playwright-python`` package, which ships ``axe.min.js``) runs in
Chromium on every state of every page a patient or a clinician sees - in bokmål and in Arabic (right to left) -
and finds nothing: no violation of any impact, best practices included. See docs/accessibility.md.

One browser and one server for the module; each language walks the whole journey once (code entry, portal,
test room, help, the patient's lobby → waiting room → call → pause → end, and the clinician's sign-in,
dashboard, booking form, department queue and an appointment), collecting what axe finds in each state, and
fails with all of it listed. The keyboard-only test at the end drives a consultation with Tab, Enter and Space.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from visitt import demo
from visitt.testing import LiveServer

from .browser import DESK, PHONE, link_in, wait_for_media
from .conftest import CHROMIUM, CHROMIUM_ARGS, make_settings
from .peers import book

pytestmark = pytest.mark.browser
AXE = Axe()
LOCALES = {"nb": "nb-NO", "ar": "ar"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # one wrong code per address is allowed: the second shows the "too many attempts" page
    settings = make_settings(tmp_path_factory.mktemp("a11y"), code_attempts_per_address=1)
    live = LiveServer(settings).start()
    yield live
    live.stop()


def violations(page: Page, state: str) -> list[str]:
    """What axe finds on the page as it is now, one readable line per rule and element."""
    found = AXE.run(page).response["violations"]
    lines = []
    for rule in found:
        for node in rule["nodes"]:
            lines.append(f"[{state}] {rule['id']} ({rule['impact']}): {rule['help']}\n"
                         f"    at {' '.join(node['target'])}: {node['html'][:160]}\n"
                         f"    {node.get('failureSummary', '').replace(chr(10), ' ')}")
    return lines


def sign_in(page: Page, base: str) -> None:
    """Sign in as the first demo clinician through the form, whatever the page's language."""
    page.goto(f"{base}/staff/login")
    page.locator("#email").fill(demo.PEOPLE[0][0])
    page.locator("#password").fill(demo.PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(f"{base}/staff")


def has_route(server: LiveServer, path: str) -> bool:
    """Whether the server answers ``path`` (the help pages come with another change; covered once present)."""
    return any(getattr(route, "path", "") in (path, f"{path}/{{lang}}") for route in server.app.routes)


@pytest.mark.parametrize("lang", list(LOCALES))
def test_no_axe_violations_on_any_page_state(site: LiveServer, browser, lang: str) -> None:  # type: ignore[no-untyped-def]
    locale = LOCALES[lang]
    found: list[str] = []
    clinic = browser.new_context(**{**DESK, "locale": locale})
    phone = browser.new_context(**{**PHONE, "locale": locale})
    try:
        visitor = phone.new_page()
        visitor.goto(site.url + "/")
        expect(visitor.locator("html")).to_have_attribute("lang", lang)
        found += violations(visitor, "code entry")
        visitor.locator("#code").fill("12")
        visitor.locator("form button[type=submit]").click()
        expect(visitor.locator("#code-error")).not_to_be_empty()
        found += violations(visitor, "code entry: error")
        for _ in range(3):  # wrong numbers until the limit (one per address in this module) refuses
            visitor.goto(site.url + "/")
            visitor.locator("#code").fill("999 999")
            visitor.locator("form button[type=submit]").click()
            if visitor.locator("#code").count() == 0:
                break
        expect(visitor.locator("#code")).to_have_count(0)  # the 429 page
        found += violations(visitor, "code entry: too many attempts")

        visitor.goto(site.url + "/portal")
        found += violations(visitor, "portal")
        visitor.locator(".portal-list a").first.click()
        found += violations(visitor, "portal: department")
        visitor.locator(".portal-list a").first.click()
        found += violations(visitor, "portal: clinician")

        visitor.goto(site.url + "/test")
        visitor.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        found += violations(visitor, "test room")

        if has_route(site, "/help"):
            visitor.goto(site.url + "/help")
            found += violations(visitor, "help")

        join_url, _token = book(site, "Kari Nordmann")  # first: the dashboard lists the appointment
        host = clinic.new_page()
        host.goto(site.url + "/staff/login")
        found += violations(host, "staff login")
        sign_in(host, site.url)
        host.goto(site.url + "/staff/book")
        found += violations(host, "booking form")
        host.goto(site.url + "/staff/queue")
        found += violations(host, "department queue")
        host.goto(site.url + "/staff/training")
        found += violations(host, "training")
        host.goto(site.url + "/staff")
        host.locator("a[href^='/staff/appointments/']").first.click()
        expect(host.locator("form").first).to_be_visible()
        found += violations(host, "appointment: move or cancel")
        host.goto(site.url + "/staff")
        expect(host.locator("#no-one")).to_be_visible()
        found += violations(host, "dashboard: idle")

        patient = phone.new_page()
        patient.goto(join_url)
        patient.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        found += violations(patient, "lobby")
        patient.locator("details.devices summary").click()
        expect(patient.locator("#camera")).to_be_visible()
        found += violations(patient, "lobby: choosing devices")

        patient.locator("#name").fill("Kari Nordmann")
        patient.locator("#join").click()
        expect(patient.locator("#knock-form")).to_be_hidden()
        found += violations(patient, "waiting room")
        knock = host.locator("#waiting li", has_text="Kari Nordmann")
        expect(knock).to_be_visible()
        found += violations(host, "dashboard: knock")

        knock.locator(".admit").click()
        wait_for_media(host)
        wait_for_media(patient)
        found += violations(patient, "in call")
        found += violations(host, "dashboard: in call")
        for page in (patient, host):  # the device panel and the chat opened
            page.locator("#devices").click()
            if page.locator("#chat").get_attribute("open") is None:  # the clinician's may be open already
                page.locator("#chat > summary").click()
            expect(page.locator("#chat-text")).to_be_visible()
            expect(page.locator("#device-panel")).to_be_visible()
        host.locator("#checks summary").first.click()  # the identity check's form
        host.locator("#invite > summary").click()  # inviting a companion, an interpreter or a colleague
        expect(host.locator("#invite-name")).to_be_visible()
        found += violations(patient, "in call: devices and chat")
        found += violations(host, "dashboard: devices, chat, identity check and invitation")

        patient.locator("#pause").click()
        expect(patient.locator("#paused")).to_be_visible()
        expect(host.locator("#paused")).to_be_visible()
        found += violations(patient, "paused")
        found += violations(host, "dashboard: paused")
        host.locator("#resume").click()
        expect(patient.locator("#paused")).to_be_hidden()

        host.locator("#end").click()
        expect(patient.locator("#done")).to_be_visible()
        found += violations(patient, "ended")
        expect(host.locator("#call")).to_be_hidden()
        found += violations(host, "dashboard: ended")
    finally:
        clinic.close()
        phone.close()
    assert not found, f"axe found {len(found)} problem(s) in {lang}:\n" + "\n".join(found)


@pytest.mark.parametrize("lang", list(LOCALES))
def test_no_axe_violations_in_the_device_help(site: LiveServer, browser, lang: str) -> None:  # type: ignore[no-untyped-def]
    """The help shown when the browser blocks the camera and microphone: a Chromium of its own that answers
    no permission prompt (without --use-fake-ui-for-media-stream it refuses, as a patient's browser can)."""
    link, _token = book(site, "Kari Nordmann")
    blocking = browser.browser_type.launch(
        executable_path=CHROMIUM, args=[arg for arg in CHROMIUM_ARGS if arg != "--use-fake-ui-for-media-stream"])
    try:
        page = blocking.new_context(**{**PHONE, "locale": LOCALES[lang]}).new_page()
        page.goto(link)
        expect(page.locator("#mic-help")).to_be_visible()
        found = violations(page, "device help")
    finally:
        blocking.close()
    assert not found, f"axe found {len(found)} problem(s) in {lang}:\n" + "\n".join(found)


# --- the keyboard alone ------------------------------------------------------------------------------------------

# What the keyboard's focus looks like: the focused element, its outline, and the colour around it (the nearest
# painted background outside it - the ring sits beside that - and the halo between ring and element).
FOCUS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  let around = "rgb(255, 255, 255)";
  for (let node = el.parentElement; node; node = node.parentElement) {
    const bg = getComputedStyle(node).backgroundColor;
    if (bg !== "transparent" && !bg.endsWith(", 0)")) { around = bg; break; }
  }
  return {id: el.id, cls: el.className, visible: el.matches(":focus-visible"), style: style.outlineStyle,
          width: parseFloat(style.outlineWidth), color: style.outlineColor, around, halo: style.boxShadow};
}"""
TAB_LIMIT = 60  # presses of Tab before a control counts as unreachable


def contrast(first: str, second: str) -> float:
    """The WCAG contrast ratio of two CSS ``rgb(...)`` colours."""
    def luminance(css: str) -> float:
        channels = [int(value) / 255 for value in re.findall(r"\d+", css)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def focus_is_visible(page: Page) -> dict[str, Any]:
    """The focused element shows the custom ring: solid, at least 2 px, 3:1 against what is beside it."""
    focus = page.evaluate(FOCUS)
    assert focus and focus["visible"], f"no visible keyboard focus: {focus}"
    assert focus["style"] == "solid" and focus["width"] >= 2, focus
    halo = re.search(r"rgb\([^)]*\)", focus["halo"])
    assert halo, focus
    for neighbour in (focus["around"], halo.group(0)):
        assert contrast(focus["color"], neighbour) >= 3, (focus, neighbour, contrast(focus["color"], neighbour))
    return focus


def tab_to(page: Page, selector: str) -> None:
    """Press Tab (only) until ``selector`` has focus; every stop on the way shows the focus ring."""
    for _ in range(TAB_LIMIT):
        page.keyboard.press("Tab")
        if page.evaluate("(selector) => document.activeElement?.matches(selector)", selector):
            focus_is_visible(page)
            return
    raise AssertionError(f"{TAB_LIMIT} presses of Tab never reached {selector} on {page.url}")


def live_text(page: Page, selector: str) -> str:
    """The text of a live region (it, or an ancestor, is aria-live or role=status/alert)."""
    live = page.evaluate("""(selector) => {
      const el = document.querySelector(selector);
      return Boolean(el.closest('[aria-live]:not([aria-live="off"]), [role=status], [role=alert]'));
    }""", selector)
    assert live, f"{selector} is not in a live region"
    return page.locator(selector).inner_text()


def test_keyboard_only_link_knock_admit_leave_end(site: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    """SMS link → knock → admitted → Leave, and the clinician's Admit and End, with Tab, Enter and Space only:
    the focus ring shows at every stop, focus goes to the new state after each change, and the change is said
    in a live region."""
    clinic = browser.new_context(**{**DESK, "locale": "nb-NO"})
    phone = browser.new_context(**{**PHONE, "locale": "nb-NO"})
    try:
        host = clinic.new_page()
        sign_in(host, site.url)
        sent = len(site.sms(wait=0))
        book(site, "Kari Nordmann")
        link = link_in(site.sms(count=sent + 1)[-1]["body"])

        patient = phone.new_page()
        patient.goto(link)
        patient.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        waiting_before = live_text(patient, "#status")
        tab_to(patient, "#name")
        patient.keyboard.type("Kari Nordmann")
        tab_to(patient, "#join")
        patient.keyboard.press("Enter")
        expect(patient.locator("#waiting-title")).to_be_focused()
        expect(patient.locator("#status")).not_to_have_text(waiting_before)
        focus_is_visible(patient)

        admit = host.locator("#waiting li", has_text="Kari Nordmann").locator(".admit")
        expect(admit).to_be_visible()
        tab_to(host, "#waiting li .admit")
        # another knock redraws the list: the clinician's focus stays on Kari's Admit
        other, _token = book(site, "Ola Nordmann")
        second = phone.new_page()
        second.goto(other)
        second.locator("#name").fill("Ola Nordmann")
        second.locator("#join").click()
        expect(host.locator("#waiting li", has_text="Ola Nordmann")).to_be_visible()
        expect(admit).to_be_focused()
        call_before = live_text(host, "#call-status")
        host.keyboard.press("Enter")
        expect(host.locator("#call")).to_be_focused()
        expect(host.locator("#call-status")).not_to_have_text(call_before)
        focus_is_visible(host)
        expect(patient.locator("#call-title")).to_be_focused()
        expect(patient.locator("#call-status")).not_to_be_empty()
        live_text(patient, "#call-status")
        focus_is_visible(patient)
        wait_for_media(host)
        wait_for_media(patient)

        tab_to(patient, "#pause")  # someone came into the room: the patient pauses, the clinician resumes
        patient.keyboard.press("Enter")
        expect(patient.locator("#paused")).to_be_focused()
        expect(patient.locator("#paused-why")).not_to_be_empty()
        live_text(patient, "#paused-why")
        focus_is_visible(patient)
        expect(host.locator("#paused")).to_be_visible()
        tab_to(host, "#resume")
        host.keyboard.press("Enter")
        expect(host.locator("#pause")).to_be_focused()
        expect(patient.locator("#pause")).to_be_focused()
        expect(patient.locator("#call-status")).not_to_be_empty()

        tab_to(patient, "#leave")
        done_before = live_text(patient, "#done-text")
        patient.keyboard.press(" ")
        expect(patient.locator("#done-title")).to_be_focused()
        expect(patient.locator("#done-text")).not_to_have_text(done_before)
        expect(patient.locator("#done-text")).not_to_be_empty()
        focus_is_visible(patient)

        tab_to(host, "#end")
        ended_before = live_text(host, "#lobby-status")
        host.keyboard.press("Enter")
        # the outcome dialog is the clinician's next step: focus on its question (it comes once the server
        # has its suggestion; until then focus waits on the waiting room's heading)
        expect(host.locator("#outcome-title")).to_be_focused()
        focus_is_visible(host)
        expect(host.locator("#lobby-status")).not_to_have_text(ended_before)
        expect(host.locator("#lobby-status")).not_to_be_empty()
        tab_to(host, "#outcome-dialog [data-later]")
        host.keyboard.press("Enter")  # Later: closed, and focus back in the waiting room
        expect(host.locator("#outcome-dialog")).to_be_hidden()
        expect(host.locator("#lobby-title")).to_be_focused()
        focus_is_visible(host)
    finally:
        clinic.close()
        phone.close()
