"""The consultation's record in Chromium (issue 19): the consent text in the patient's language on a small
phone with Join in view, the knock recording consent, the host's page reporting media that flowed both ways,
the patient withdrawing during the call (the clinician sees it at once), and the outcome dialog pre-filled
with Visitt's suggestion, saved in one click."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from visitt import consent
from visitt.store.models import Appointment, ConsentEvent
from visitt.testing import LiveServer

from .browser import DESK, sign_in, wait_for_media
from .eventually import eventually
from .peers import book

pytestmark = pytest.mark.browser

SMALL_PHONE = {"viewport": {"width": 360, "height": 640}, "is_mobile": True, "has_touch": True, "locale": "pl-PL"}


def _appointment(server: LiveServer) -> Appointment:
    with server.database.session() as session:
        (row,) = session.scalars(select(Appointment))
        session.expunge(row)
        return row


def test_consent_withdrawal_in_the_call_and_the_outcome_dialog(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    clinic = browser.new_context(**DESK)
    mobile = browser.new_context(**SMALL_PHONE)
    try:
        host = clinic.new_page()
        sign_in(host, server.url)
        join_url, _token = book(server, "Kari Nordmann")
        patient = mobile.new_page()
        patient.goto(join_url)
        # the consent text, in Polish, folded under Join, which stays on the screen
        summary = patient.locator("details.privacy summary")
        expect(summary).to_have_text("Wideo jest dobrowolne i nic nie jest nagrywane – co dzieje się z moimi danymi?")
        join = patient.locator("#join").bounding_box()
        assert join is not None and join["y"] + join["height"] <= 640, join
        summary.click()
        expect(patient.get_by_text("Możesz zrezygnować w każdej chwili bez konsekwencji dla swojego leczenia",
                                   exact=False)).to_be_visible()
        summary.click()
        patient.locator("#name").fill("Kari Nordmann")
        patient.locator("#join").click()
        host.locator("#waiting li", has_text="Kari Nordmann").locator(".admit").click()
        wait_for_media(host)
        wait_for_media(patient)

        with server.database.session() as session:
            (given,) = session.scalars(select(ConsentEvent))
            assert (given.kind, given.language, given.text_version, given.how) == (
                "given", "pl", consent.TEXT_VERSION, "knock")
        eventually(lambda: _appointment(server).media_flowed, "the host's page reports media flowing both ways",
                   timeout=20)

        # the patient withdraws during the call, after confirming
        patient.locator("#call [data-withdraw]").click()
        expect(patient.locator("#withdraw-dialog")).to_be_visible()
        patient.locator("#withdraw-confirm").click()
        expect(patient.locator("#done-text")).to_have_text(
            "Wideo zostało zakończone. Przychodnia skontaktuje się z Tobą w inny sposób. Nie wpływa to na Twoje leczenie.")
        expect(host.locator("#lobby-status")).to_have_text(
            "The patient withdrew from video: the consultation has ended. Contact them another way.")

        # the clinician's outcome dialog, pre-filled: one choice for follow-up, then Save
        dialog = host.locator("#outcome-dialog")
        expect(dialog).to_be_visible()
        expect(dialog.locator("input[name=outcome][value=patient_withdrew]")).to_be_checked()
        dialog.get_by_label("Yes").check()
        dialog.get_by_role("button", name="Save outcome").click()
        expect(dialog).to_be_hidden()
    finally:
        clinic.close()
        mobile.close()

    appointment = _appointment(server)
    assert (appointment.state.value, appointment.outcome, appointment.outcome_confirmed, appointment.follow_up) == (
        "cancelled", "patient_withdrew", True, True)
    with server.database.session() as session:
        assert [e.kind for e in session.scalars(select(ConsentEvent).order_by(ConsentEvent.id))] == [
            "given", "withdrawn"]
