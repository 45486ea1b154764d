"""The admin console in Chromium (issue 18 §2): an admin invites a member of staff, changes their role,
deactivates them, creates and revokes an API token, searches the audit trail and downloads it as CSV - and
every console page fits a phone's 360 pixels without sideways scrolling."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from visitt import demo
from visitt.testing import LiveServer

from .browser import give_second_factor, sign_in

pytestmark = pytest.mark.browser
PAGES = ("/staff/admin", "/staff/admin/departments", "/staff/admin/tokens", "/staff/admin/audit?action=staff_changed")
# ADMIN_SCREENSHOTS=<folder>: keep a picture of each console page at both sizes, to look at
SCREENSHOTS = os.environ.get("ADMIN_SCREENSHOTS", "")


def _fits(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), page.url


def test_an_admin_walks_the_console(server: LiveServer, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US", accept_downloads=True)
    page = context.new_page()
    try:
        sign_in(page, server.url, demo.ADMIN[0], give_second_factor(server.database, demo.ADMIN[0]))
        page.get_by_role("link", name="Admin", exact=True).click()
        expect(page.get_by_role("heading", name="Staff", exact=True)).to_be_visible()

        page.locator("#full_name").fill("Nora Ny")
        page.locator("#email").fill("nora.ny@demo.visitt.no")
        page.locator("#role").select_option("clinician")
        page.get_by_label(demo.DEPARTMENT[0]).check()
        page.get_by_role("button", name="Invite", exact=True).click()
        expect(page.get_by_text("Invitation for Nora Ny")).to_be_visible()
        assert "/staff/welcome/" in page.locator("input.link-once").input_value()
        row = page.locator("tr[data-email='nora.ny@demo.visitt.no']")
        expect(row).to_contain_text("Invited")

        row.get_by_role("link", name="Nora Ny").click()
        page.locator("#role").select_option("secretary")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_text("Saved.")).to_be_visible()
        expect(page.locator("#role")).to_have_value("secretary")
        page.get_by_role("button", name="Deactivate").click()
        expect(page.get_by_role("button", name="Reactivate")).to_be_visible()
        expect(page.locator(".status-inactive").first).to_have_text("Inactive")

        page.get_by_role("link", name="API tokens").click()
        page.locator("#name").fill("Booking system")
        page.locator("#owner_id").select_option(label=f"{demo.PEOPLE[0][2]} ({demo.PEOPLE[0][0]})")
        page.get_by_role("button", name="Create token").click()
        secret = page.locator("input.link-once").input_value()
        assert len(secret) > 30
        made = page.locator("tr", has_text="Booking system")
        made.get_by_role("button", name="Revoke").click()
        expect(page.locator("tr", has_text="Booking system")).to_have_attribute("data-state", "revoked")
        assert secret not in page.content()

        page.get_by_role("link", name="Audit trail").click()
        page.locator("#action").select_option("staff_changed")
        page.get_by_role("button", name="Search").click()
        expect(page.locator("tr[data-action='staff_changed']")).to_have_count(1)
        with page.expect_download() as download:
            page.get_by_role("link", name="Download as CSV").click()
        saved = tmp_path / "audit.csv"
        download.value.save_as(saved)
        lines = saved.read_text().splitlines()
        assert lines[0] == "id,at,actor,action,room_id,subject,detail" and len(lines) == 2 and "staff_changed" in lines[1]

        for width, height in ((1280, 800), (360, 640)):
            page.set_viewport_size({"width": width, "height": height})
            for path in PAGES:
                page.goto(f"{server.url}{path}")
                _fits(page)
                if SCREENSHOTS:
                    name = path.strip("/").split("?")[0].replace("/", "-")
                    page.screenshot(path=f"{SCREENSHOTS}/{name}-{width}.png", full_page=True)
    finally:
        context.close()
