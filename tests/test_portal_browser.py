"""The portal end to end in Chromium with fake camera and microphone: a visitor with no appointment
finds the department and the clinician, types their name, checks their devices on the ordinary patient
page and knocks; the clinician's dashboard marks them unscheduled, the department queue lists them, and
the clinician admits them into a call with media both ways."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from visitt import demo
from visitt.testing import LiveServer

from .browser import DESK, PHONE, sign_in, wait_for_media

pytestmark = pytest.mark.browser


def test_portal_visitor_knocks_and_is_admitted(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    clinic = browser.new_context(**DESK)
    phone = browser.new_context(**PHONE)
    try:
        host = clinic.new_page()
        sign_in(host, server.url)
        queue = clinic.new_page()
        queue.goto(f"{server.url}/staff/queue")
        expect(queue.get_by_text("Nobody is waiting in your department.")).to_be_visible()

        visitor = phone.new_page()
        visitor.goto(server.url + "/")
        visitor.get_by_role("link", name="No SMS? Find your department and clinician").click()
        visitor.get_by_role("link", name=demo.DEPARTMENT[0]).click()
        expect(visitor.get_by_role("link", name="Ola Hansen")).to_have_count(0)  # takes no visitors
        visitor.get_by_role("link", name="Dr. Ingrid Berg").click()
        visitor.get_by_label("Your full name").fill("Nils Visitor")
        visitor.get_by_role("button", name="Continue").click()

        # The patient page, on a link of the visitor's own: device check, the name ready, knock.
        visitor.wait_for_url(re.compile(r"/v/[A-Za-z0-9_-]{43}$"))
        visitor.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        expect(visitor.get_by_label("Your full name")).to_have_value("Nils Visitor")
        visitor.get_by_role("button", name="Join").click()
        expect(visitor.get_by_role("status").filter(has_text="has been notified")).to_be_visible()

        knock = host.locator("#waiting li", has_text="Nils Visitor")
        expect(knock.get_by_text("Unscheduled visitor")).to_be_visible()
        row = queue.locator("#queue tbody tr", has_text="Nils Visitor")
        expect(row).to_contain_text("Unscheduled visitor", timeout=20_000)  # the page refreshes itself
        expect(row).to_contain_text("Dr. Ingrid Berg")

        knock.get_by_role("button", name="Admit").click()
        host_stats, visitor_stats = wait_for_media(host), wait_for_media(visitor)
        assert host_stats["peers"] == visitor_stats["peers"] == 1
        expect(row).to_have_count(0, timeout=20_000)  # in the call: no longer waiting
    finally:
        clinic.close()
        phone.close()
