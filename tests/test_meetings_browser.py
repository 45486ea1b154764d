"""A staff meeting in Chromium (issue 20 §1): the clinician creates it on the New meeting form with an external
guest and a colleague by account (who finds it on their dashboard, with the warning); the guest opens the link
from their SMS, sees a video *meeting* with the warning that patients are
discussed (no consent text, no "I don't want video"), knocks and is admitted from the waiting room; both pages
decode the other's frames. Each page is saved as a screenshot under ``test-artefacts/`` at 360×640 and
1280×800 for a person to look at."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from visitt import demo
from visitt.store.models import Meeting, Staff
from visitt.testing import LiveServer

from .browser import DESK, PHONE, link_in, sign_in, wait_for_media
from .test_accessibility_browser import sign_in as sign_in_any_language, violations

pytestmark = pytest.mark.browser
ARTEFACTS = Path(__file__).resolve().parent.parent / "test-artefacts"
WARNING = "Patient information is discussed in this meeting."


def _shots(page: Page, name: str) -> None:
    """``page`` at a phone's 360×640 and a desk's 1280×800, the whole page."""
    ARTEFACTS.mkdir(exist_ok=True)
    for width, height in ((360, 640), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTEFACTS / f"meeting-{name}-{width}x{height}.png"), full_page=True)


def _meeting_words(page: Page) -> None:
    """What a guest sees speaks of the host and the meeting, never of a clinician or a consultation (the
    patient's page, its scripts' strings and the hidden parts that may show later included)."""
    strings = json.loads(page.locator("#strings").text_content() or "{}")
    shown = page.locator("body").inner_text() + " ".join(strings.values())
    hidden = page.evaluate("() => [...document.querySelectorAll('main [hidden], dialog')].map(e => e.textContent)"
                           ".join(' ')")
    for text in (shown, " ".join(hidden) if isinstance(hidden, list) else str(hidden)):
        lowered = text.lower()
        assert "clinician" not in lowered and "consultation" not in lowered, text


def test_a_staff_meeting_with_an_external_guest_admitted_from_the_lobby(server: LiveServer,
                                                                        browser) -> None:  # type: ignore[no-untyped-def]
    clinic, office, mobile = browser.new_context(**DESK), browser.new_context(**DESK), browser.new_context(**PHONE)
    try:
        host = clinic.new_page()
        sign_in(host, server.url)
        host.get_by_role("link", name="New meeting").click()
        host.get_by_label("Title (only staff see it)").fill("MDT lunge")
        host.locator("#guest_0_name").fill("Dr. Nils Lunde")
        host.locator("#guest_0_contact").fill("412 34 570")
        host.get_by_label("Ola Hansen").check()
        expect(host.get_by_text(WARNING)).to_be_visible()
        _shots(host, "new")
        host.set_viewport_size(DESK["viewport"])
        host.get_by_role("button", name="Create meeting and send invitations").click()
        expect(host.get_by_text("Meeting created. The invitations have been queued.")).to_be_visible()
        line = host.locator("#meetings li", has_text="MDT lunge")
        expect(line).to_be_visible()

        # the colleague invited by account finds it on their dashboard, and its page warns them too
        colleague = office.new_page()
        sign_in(colleague, server.url, demo.PEOPLE[1][0])
        colleague.locator("#meetings li", has_text="MDT lunge").get_by_role("link", name="Join the meeting").click()
        expect(colleague.get_by_role("heading", name="MDT lunge")).to_be_visible()
        expect(colleague.locator("#cohost").get_by_text(WARNING)).to_be_visible()
        expect(colleague.get_by_role("button", name="Join the meeting")).to_be_visible()
        _shots(colleague, "colleague")

        (sms,) = server.sms(wait=30)
        assert "videomøte" in sms["body"] and "MDT" not in sms["body"]  # neutral, in the guest's language (nb)
        guest = mobile.new_page()
        guest.goto(link_in(sms["body"]))
        expect(guest.get_by_role("heading", name="Video meeting")).to_be_visible()
        expect(guest.locator("#meet").get_by_text(WARNING)).to_be_visible()
        expect(guest.get_by_text("MDT lunge")).to_have_count(0)  # the title is for staff only
        expect(guest.locator("[data-withdraw]")).to_have_count(0)  # no patient here: no consent to withdraw
        _meeting_words(guest)  # the lobby
        guest.get_by_label("Your full name").fill("Nils Lunde")
        guest.get_by_role("button", name="Join").click()
        expect(guest.locator("#waiting-room")).to_be_visible()
        expect(guest.locator("#waiting-room").get_by_text(WARNING)).to_be_visible()
        expect(guest.locator("#waiting-room").get_by_text(
            "The host lets you in when they are ready, and the meeting starts by itself.")).to_be_visible()
        expect(guest.locator("#status")).to_have_text(
            "The host has been told that you are waiting. You will be let in when they are ready.")
        _meeting_words(guest)
        _shots(guest, "guest-waiting")

        knock = host.locator("#waiting li", has_text="Nils Lunde")
        expect(knock).to_contain_text("Colleague", timeout=30_000)
        knock.get_by_role("button", name="Admit").click()
        wait_for_media(host, timeout=60)
        wait_for_media(guest, timeout=60)
        expect(host.locator("#meeting-call-warning")).to_be_visible()  # the host's call says it too
        expect(guest.locator("#meeting-call-warning").get_by_text(WARNING)).to_be_visible()  # and the guest's
        _shots(host, "host-call")
        _shots(guest, "guest-call")
        guest.locator("#meeting-call-warning").get_by_role("button", name="OK").click()  # read: out of the way
        expect(guest.locator("#meeting-call-warning")).to_be_hidden()
        expect(guest.locator("#call-status")).to_have_text("In the meeting")
        expect(guest.get_by_role("toolbar", name="Meeting")).to_be_visible()
        expect(guest.locator("#ask-id")).to_have_text("Ask the host to show ID")
        expect(guest.locator("#participants")).to_contain_text("Host")
        _meeting_words(guest)
        host.get_by_role("button", name="End consultation").click()
        expect(guest.locator("#done")).to_be_visible(timeout=30_000)
        expect(guest.get_by_role("heading", name="Video meeting")).to_be_visible()
        expect(guest.locator("#done-text")).to_have_text("The meeting has ended. Thank you.")
        _meeting_words(guest)
    finally:
        for context in (clinic, office, mobile):
            context.close()


def test_the_host_moves_then_cancels_a_meeting_from_the_dashboard(server: LiveServer,
                                                                  browser) -> None:  # type: ignore[no-untyped-def]
    """**Change or cancel** on the dashboard: a new time saved on the meeting's page (which axe finds no fault
    with, in English and in Arabic), then the meeting cancelled after a second step, by keyboard (Escape keeps
    it; the dialog's "Yes" cancels it); the guest's link then says so."""
    with server.database.session() as session:
        ola = session.scalar(select(Staff.id).where(Staff.email == demo.PEOPLE[1][0]))
    created = server.post(f"{server.url}/api/v1/meetings", headers={"Authorization": f"Bearer {server.token}"},
                          json={"title": "MDT lunge", "colleagues": [ola],
                                "guests": [{"name": "Dr. Nils Lunde", "phone": "412 34 570"}]})
    assert created.status_code == 201, created.text
    guest_link = created.json()["invitations"][0]["join_url"]
    clinic, office, mobile = browser.new_context(**DESK), browser.new_context(**DESK), browser.new_context(**PHONE)
    try:
        colleague = office.new_page()  # the invited colleague's dashboard, open all along
        sign_in(colleague, server.url, demo.PEOPLE[1][0])
        expect(colleague.locator("#meetings li", has_text="MDT lunge")).to_be_visible()
        host = clinic.new_page()
        sign_in(host, server.url)
        host.locator("#meetings li", has_text="MDT lunge").get_by_role("link", name="Change or cancel").click()
        expect(host.get_by_role("heading", name="MDT lunge")).to_be_visible()
        assert not violations(host, "meeting page")
        host.get_by_label("Title (only staff see it)").fill("MDT lunge og hjerte")
        host.get_by_label("Date").fill((dt.date.today() + dt.timedelta(days=3)).isoformat())
        host.get_by_label("Time").fill("14:30")
        host.get_by_role("button", name="Save and tell the guests").click()
        expect(host.get_by_role("status")).to_have_text(
            "Saved. If the time changed, the guests get a message with the new time.")
        expect(host.get_by_role("heading", name="MDT lunge og hjerte")).to_be_visible()
        expect(colleague.locator("#meetings li", has_text="MDT lunge og hjerte")).to_contain_text("2:30")
        moved = server.sms(wait=30, count=2)[-1]
        assert "flyttet" in moved["body"] and "14:30" in moved["body"] and "MDT" not in moved["body"]

        _shots(host, "page")
        cancel = host.get_by_role("button", name="Cancel meeting and tell the guests")
        # the Cancel section stands clear of the save button above it
        save_box = host.get_by_role("button", name="Save and tell the guests").bounding_box()
        heading_box = host.get_by_role("heading", name="Cancel", exact=True).bounding_box()
        assert save_box is not None and heading_box is not None
        assert heading_box["y"] - (save_box["y"] + save_box["height"]) >= 24
        cancel.focus()
        host.keyboard.press("Enter")  # asks first; the safe choice has the focus
        dialog = host.get_by_role("dialog", name="Cancel this meeting?")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("The guests get a message that it is cancelled")
        expect(dialog.get_by_role("button", name="No, keep it")).to_be_focused()
        _shots(host, "cancel-dialog")
        assert not violations(host, "meeting page, cancel dialog")
        host.keyboard.press("Escape")  # kept: nothing sent, back on the button
        expect(dialog).to_be_hidden()
        expect(cancel).to_be_focused()
        with server.database.session() as session:
            assert session.get(Meeting, created.json()["id"]).cancelled_at is None  # type: ignore[union-attr]
        host.keyboard.press("Enter")
        host.keyboard.press("Tab")  # to "Yes, cancel the meeting"
        expect(dialog.get_by_role("button", name="Yes, cancel the meeting")).to_be_focused()
        host.keyboard.press("Enter")
        expect(host.get_by_text("Meeting cancelled. The guests have been told.")).to_be_visible()
        expect(host.locator("#meetings li", has_text="MDT lunge")).to_have_count(0)
        guest = mobile.new_page()
        guest.goto(guest_link)
        expect(guest.get_by_role("heading", name="The meeting has been cancelled")).to_be_visible()
        expect(colleague.locator("#meetings li", has_text="MDT")).to_have_count(0)  # gone without a reload
        expect(guest.get_by_text("MDT")).to_have_count(0)

        arabic = browser.new_context(**{**DESK, "locale": "ar"})
        try:
            page = arabic.new_page()
            sign_in_any_language(page, server.url)
            page.goto(f"{server.url}/staff/meetings/{created.json()['id']}")
            expect(page.locator("html")).to_have_attribute("dir", "rtl")
            assert not violations(page, "meeting page (ar), cancelled")
        finally:
            arabic.close()
    finally:
        for context in (clinic, office, mobile):
            context.close()
