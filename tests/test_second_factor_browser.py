"""The second factor in Chromium: an administrator signs in, is sent to set it up, scans nothing but
reads the key shown beside the QR code into pyotp (as an authenticator app would), keeps the recovery
codes, then signs in again with the password and the app's next code."""

from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import expect

from visitt import accounts, demo
from visitt.store.models import Role
from visitt.testing import LiveServer

from .browser import DESK

pytestmark = pytest.mark.browser
ADMIN = "admin@example.no"


def test_an_administrator_sets_up_totp_and_signs_in_with_it(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with server.database.session() as session:
        accounts.create_staff(session, email=ADMIN, full_name="Ada Admin", role=Role.admin, password=demo.PASSWORD,
                              department=None)
    context = browser.new_context(**DESK)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/staff/login")
        page.get_by_label("E-mail").fill(ADMIN)
        page.get_by_label("Password").fill(demo.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{server.url}/staff/account/second-factor")
        qr = page.get_by_role("img", name="QR code for the authenticator app")
        expect(qr).to_be_visible()
        assert page.evaluate("(img) => img.naturalWidth", qr.element_handle()) > 0  # the SVG decodes
        totp = pyotp.TOTP(page.locator("#secret").inner_text())
        page.get_by_label("Code from the app").fill(totp.now())
        page.get_by_role("button", name="Set up").click()
        expect(page.locator(".recovery-codes li")).to_have_count(10)
        page.get_by_role("link", name="Continue").click()
        page.wait_for_url(f"{server.url}/staff")

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{server.url}/staff/login")
        page.get_by_label("E-mail").fill(ADMIN)
        page.get_by_label("Password").fill(demo.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{server.url}/staff/login/code")
        page.get_by_label("The six digits from your authenticator app, or a recovery code").fill(
            totp.at(time.time() + 30))  # the code that set it up is spent: the next one
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{server.url}/staff")
    finally:
        context.close()
