"""Code entry end to end in Chromium: the patient types the six digits from the SMS on the front page
instead of opening the link, lands on the same device check, knocks, is admitted, and the call flows."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from playwright.sync_api import expect

from visitt.testing import LiveServer

from .browser import DESK, PHONE, sign_in, wait_for_media

pytestmark = pytest.mark.browser


def test_code_entry_knock_admit_call(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=20)).isoformat()
    booked = httpx.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                        json={"patient_name": "Kari Nordmann", "patient_phone": "+4741234567", "starts_at": starts})
    (sms,) = server.sms()
    match = re.search(r"\b\d{6}\b", sms["body"])
    assert match and match.group(0) == booked.json()["code"]
    code = match.group(0)

    clinic = browser.new_context(**DESK)
    phone = browser.new_context(**PHONE)
    try:
        host = clinic.new_page()
        sign_in(host, server.url)

        patient = phone.new_page()
        patient.goto(server.url + "/")
        field = patient.get_by_label("Enter the six-digit number from your SMS")
        expect(field).to_have_attribute("inputmode", "numeric")
        field.fill("12345")  # one digit short: told so, next to the field
        patient.get_by_role("button", name="Continue").click()
        expect(patient.locator("#code-error")).to_have_text(
            "Enter the six digits from your SMS, for example 123 456.")
        expect(field).to_have_attribute("aria-invalid", "true")  # a locator finds the field on the new page too

        field.fill(code)
        patient.get_by_role("button", name="Continue").click()
        patient.wait_for_url(f"{server.url}/v")
        assert code not in patient.url
        patient.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        patient.get_by_label("Your full name").fill("Kari Nordmann")
        patient.get_by_role("button", name="Join").click()
        expect(patient.get_by_role("status").filter(has_text="has been notified")).to_be_visible()

        knock = host.locator("#waiting li", has_text="Kari Nordmann")
        expect(knock).to_be_visible()
        knock.get_by_role("button", name="Admit").click()
        assert wait_for_media(host)["peers"] == wait_for_media(patient)["peers"] == 1

        host.get_by_role("button", name="End consultation").click()
        expect(patient.get_by_text("The consultation has ended")).to_be_visible()
    finally:
        clinic.close()
        phone.close()
