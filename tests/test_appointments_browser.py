"""Cancelling an appointment on its page in Chromium asks first, as cancelling a meeting does (confirm.js):
"No, keep it" (or Escape) keeps it and sends nothing; "Yes, cancel the appointment" cancels it and tells the
patient. Screenshots of the dialog at a phone's and a desk's size."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from visitt.store.models import Appointment, AppointmentState
from visitt.testing import LiveServer

from .browser import DESK, sign_in
from .peers import book
from .test_accessibility_browser import violations

pytestmark = pytest.mark.browser
ARTEFACTS = Path(__file__).resolve().parent.parent / "test-artefacts"


def test_cancelling_an_appointment_asks_first(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    book(server)
    with server.database.session() as session:
        appointment_id = session.scalars(select(Appointment.id)).one()
    context = browser.new_context(**DESK)
    try:
        page = context.new_page()
        sign_in(page, server.url)
        page.goto(f"{server.url}/staff/appointments/{appointment_id}")
        ARTEFACTS.mkdir(exist_ok=True)
        page.set_viewport_size({"width": 360, "height": 640})
        page.screenshot(path=str(ARTEFACTS / "appointment-360x640.png"), full_page=True)
        for answer in ("Yes", "No"):  # on a phone too, each radio button beside its answer, not a line apart
            radio, label = page.get_by_role("radio", name=answer), page.locator("label", has_text=answer).first
            box, text = radio.bounding_box(), label.bounding_box()
            assert box and text and box["width"] < 40 and text["height"] < 60, (answer, box, text)
        page.set_viewport_size(DESK["viewport"])
        cancel = page.get_by_role("button", name="Cancel appointment and send SMS")
        cancel.click()
        dialog = page.get_by_role("dialog", name="Cancel this appointment?")
        expect(dialog).to_contain_text("The patient gets an SMS that it is cancelled")
        expect(dialog.get_by_role("button", name="No, keep it")).to_be_focused()
        assert not violations(page, "appointment page, cancel dialog")
        for width, height in ((360, 640), (1280, 800)):
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=str(ARTEFACTS / f"appointment-cancel-dialog-{width}x{height}.png"))
        dialog.get_by_role("button", name="No, keep it").click()
        expect(dialog).to_be_hidden()
        cancel.focus()
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        with server.database.session() as session:
            assert session.get(Appointment, appointment_id).state is AppointmentState.booked  # type: ignore[union-attr]
        assert len(server.sms(wait=1)) == 1  # the invitation only

        cancel.click()
        dialog.get_by_role("button", name="Yes, cancel the appointment").click()
        expect(page.locator("p", has_text="Status")).to_contain_text("cancelled")
        assert "avlyst" in server.sms(count=2)[-1]["body"]  # the patient is told (in bokmål, the booking's language)
    finally:
        context.close()
