"""Chromium: the patient changes language during the call (static/js/language.js). The words change in
place - the page is not loaded again - and the call goes on, on the same peer connections, with no new
knock; the next load of the page keeps the new language. The help page opens beside the call."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from visitt.testing import LiveServer

from .browser import MARK_PEERS, SAME_PEERS, call_between, picture_grows
from .conftest import make_settings
from .test_signaling import audit_trail

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(make_settings(tmp_path, reconnect_grace=30.0)).start()
    yield live
    live.stop()


def test_changing_language_in_the_call_keeps_the_call(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with call_between(server, browser) as (host, patient):
        expect(patient.locator("#leave")).to_have_text("Leave")
        patient.evaluate(MARK_PEERS)
        patient.evaluate("() => { window.notReloaded = true; }")

        patient.locator(".languages summary").click()
        patient.get_by_role("link", name="Norsk bokmål").click()

        html = patient.locator("html")
        expect(html).to_have_attribute("lang", "nb")
        expect(patient.locator("#leave")).to_have_text("Forlat")
        expect(patient.locator("#mic")).to_have_text("Mikrofon")
        expect(patient.locator("#call-status")).to_have_text("I konsultasjon")  # written by the script: swapped too
        expect(patient.locator(".languages summary")).to_have_text("Norsk bokmål")
        expect(patient.locator(".languages a[hreflang=nb]")).to_have_attribute("aria-current", "true")
        expect(patient.locator("#participants li:not(.self) .role")).to_have_text("★ Behandler")
        expect(patient.locator(".chat-phrases button").first).to_have_text("Jeg hører deg ikke.")
        expect(patient.locator(".help-link")).to_have_attribute("href", "/help/nb")  # the help page follows
        assert patient.evaluate("() => window.notReloaded === true")  # the same page, not a new one
        assert picture_grows(patient) and picture_grows(host)
        assert patient.evaluate(SAME_PEERS)
        expect(host.locator("#waiting li")).to_have_count(0)  # nobody knocked

        # Right to left, in place too; and what the scripts say next is in the new language.
        patient.locator(".languages summary").click()
        patient.get_by_role("link", name="العربية").click()
        expect(html).to_have_attribute("dir", "rtl")
        expect(patient.locator("#leave")).to_have_text("مغادرة")
        patient.locator("#leave").click()
        expect(patient.locator("#done-text")).to_have_text(
            "لقد غادرت الاستشارة. يرجى فتح الرابط مرة أخرى للعودة إلى غرفة الانتظار.")
        assert patient.evaluate("() => window.notReloaded === true")

        patient.reload()  # the choice is remembered
        expect(html).to_have_attribute("lang", "ar")
    public_room = next(iter(server.app.state.hub.rooms))
    assert [action for action, _ in audit_trail(server, public_room)].count("knock") == 1


def test_the_help_link_in_the_call_opens_beside_it(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    """The help page opens in a new tab: the call behind it goes on."""
    with call_between(server, browser) as (host, patient):
        patient.evaluate(MARK_PEERS)
        with patient.context.expect_page() as opened:
            patient.get_by_role("link", name="Help").click()
        help_page = opened.value
        expect(help_page.get_by_role("heading", level=1)).to_have_text("Help with your video consultation")
        assert help_page.url.endswith("/help/en")
        expect(patient.locator("#call")).to_be_visible()
        assert picture_grows(patient) and picture_grows(host)
        assert patient.evaluate(SAME_PEERS)


def test_the_clinician_changes_language_in_the_call_too(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with call_between(server, browser) as (host, patient):
        host.evaluate(MARK_PEERS)
        host.evaluate("() => { window.notReloaded = true; }")
        host.locator(".languages summary").click()
        host.get_by_role("link", name="Norsk bokmål").click()
        expect(host.locator("html")).to_have_attribute("lang", "nb")
        expect(host.locator("#end")).to_have_text("Avslutt konsultasjonen")
        expect(host.locator("#participants li.self .role")).to_have_text("★ Behandler")
        assert host.evaluate("() => window.notReloaded === true")
        assert picture_grows(host) and picture_grows(patient)
        assert host.evaluate(SAME_PEERS)
        expect(patient.locator("#call")).to_be_visible()
