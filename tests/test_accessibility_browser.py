"""Accessibility measured: axe-core (the ``axe-playwright-python`` package, which ships ``axe.min.js``) runs in
Chromium on every state of every page a patient or a clinician sees - in bokmål and in Arabic (right to left) -
and finds nothing: no violation of any impact, best practices included. See docs/accessibility.md.

One browser and one server for the module; each language walks the whole journey once (code entry, portal,
test room, help, the patient's lobby → waiting room → call → pause → end, and the clinician's sign-in,
dashboard and booking form), collecting what axe finds in each state, and fails with all of it listed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from visitt.testing import LiveServer

from .browser import DESK, PHONE, wait_for_media
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
    from visitt import demo

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
        found += violations(patient, "in call: devices and chat")
        found += violations(host, "dashboard: devices and chat")

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
        expect(page.locator("#device-help")).to_be_visible()
        found = violations(page, "device help")
    finally:
        blocking.close()
    assert not found, f"axe found {len(found)} problem(s) in {lang}:\n" + "\n".join(found)
