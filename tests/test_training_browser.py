"""The training course in Chromium, as an untrained clinician: the dashboard says what is missing, the
rules are read, the questions answered (a wrong answer explained first), the test room's round trip
recorded - and the dashboard's notice is gone, the waiting room there instead."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from visitt import accounts, demo
from visitt.store.models import Department, Role, Staff
from visitt.testing import LiveServer

from .browser import DESK, sign_in
from .test_accessibility_browser import violations

pytestmark = pytest.mark.browser
NEW = "ny.lege@demo.visitt.no"


def test_the_course_records_the_training_and_the_dashboard_lets_the_clinician_host(
        server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with server.database.session() as session:
        department = session.scalar(select(Department).where(Department.name == demo.DEPARTMENT[0]))
        accounts.create_staff(session, email=NEW, full_name="Nina Ny", role=Role.clinician, password=demo.PASSWORD,
                              department=department)
    context = browser.new_context(**DESK)
    try:
        page = context.new_page()
        sign_in(page, server.url, NEW)
        notice = page.locator("#training-needed")
        expect(notice).to_contain_text("Make one test call in the test room")
        expect(page.locator("#lobby")).to_have_count(0)
        page.get_by_role("link", name="Go to the training").click()

        page.get_by_role("button", name="I have read the rules").click()
        questions = page.locator("fieldset.question")
        expect(questions).to_have_count(5)
        page.get_by_label("Yes, if they keep the recording to themselves.").check()  # wrong
        page.get_by_role("button", name="Check my answers").click()
        expect(page.locator("#wrong-answers")).to_be_visible()
        expect(questions.nth(0).locator(".explanation")).to_have_text(
            "Recording is never allowed, by the patient or by the clinician.")
        assert violations(page, "training: answers explained") == []
        for label in ("No: nobody may record a consultation, neither the patient nor you.",
                      "Only the window with the leaflet.", "Lock the room and check the patient's photo ID.",
                      "Stop, and agree on another time or a phone call.",
                      "Call the patient by phone and record a technical failure: the patient does not pay."):
            page.get_by_label(label).check()
        page.get_by_role("button", name="Check my answers").click()
        expect(page.locator("#questions")).to_contain_text("All answered correctly.")

        page.get_by_role("link", name="Go to the test room").click()
        page.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        page.get_by_role("button", name="Start the round trip").click()
        expect(page.locator("#verdict")).to_have_text("Your equipment is ready", timeout=20_000)
        expect(page.locator("#training-status")).to_have_text("Your test call is recorded in your training.")

        page.goto(f"{server.url}/staff")
        expect(page.locator("#lobby")).to_be_visible()
        expect(page.locator("#training-needed")).to_have_count(0)
    finally:
        context.close()
    with server.database.session() as session:
        staff = session.scalar(select(Staff).where(Staff.email == NEW))
        assert staff is not None and staff.trained_at is not None and staff.training_source == "course"
