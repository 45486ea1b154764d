"""Continue by phone, end to end in Chromium: the clinician ends the video for everyone, the patient's
screen says they will be called now on their number (partly masked), the clinician gets a ``tel:`` link,
and the room ends with the audit row ``continue_by_phone``."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from visitt.store import audit
from visitt.store.db import Database
from visitt.store.models import Room, RoomState
from visitt.testing import LiveServer

from .browser import DESK, PHONE, sign_in, wait_for_media
from .peers import book

pytestmark = pytest.mark.browser


def appointment_id(server: LiveServer) -> int:
    with server.app.state.database.session() as session:
        room = session.scalars(select(Room)).one()
        assert room.appointment_id is not None
        return room.appointment_id


def test_continue_by_phone_ends_the_video_and_tells_the_patient_the_clinician_calls(server: LiveServer,
                                                                                     browser) -> None:  # type: ignore[no-untyped-def]
    clinic, mobile = browser.new_context(**DESK), browser.new_context(**PHONE)
    clinic.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    try:
        join_url, _token = book(server, "Kari Nordmann")
        host = clinic.new_page()
        sign_in(host, server.url)  # the dashboard lists the appointment, with the patient's number
        patient = mobile.new_page()
        patient.goto(join_url)
        patient.locator("#name").fill("Kari Nordmann")
        patient.locator("#join").click()
        host.locator("#waiting li", has_text="Kari Nordmann").locator(".admit").click()
        wait_for_media(patient)
        # during the call the clinician already has the patient's number at hand
        expect(host.locator("#call-phone a")).to_have_attribute("href", "tel:+4741234567")
        host.get_by_role("button", name="Continue by phone").click()

        expect(patient.locator("#done-text")).to_have_text(
            "The video has ended. Your clinician will call you now on +47 ••• •• 567. Keep your phone at hand.")
        expect(patient.locator("body")).not_to_contain_text("41234567")
        link = host.locator("#phone-call a")
        expect(link).to_be_visible()
        expect(link).to_have_attribute("href", "tel:+4741234567")
        expect(host.locator("#call")).to_be_hidden()
        expect(host.locator("#lobby-status")).to_contain_text("Call the patient now")

        # after the call: the journal note, copied in one click
        host.goto(f"{server.url}/staff/appointments/{appointment_id(server)}")
        note = host.get_by_role("textbox", name="Journal note")
        expect(note).to_contain_text("Outcome: Continued by phone (not confirmed).")
        host.get_by_role("button", name="Copy").click()
        expect(host.locator("#journal-status")).to_have_text("Copied. Paste it into the journal.")
        assert host.evaluate("navigator.clipboard.readText()") == note.input_value()
    finally:
        clinic.close()
        mobile.close()

    database: Database = server.app.state.database
    with database.session() as session:
        room = session.scalars(select(Room)).one()
        assert room.state is RoomState.ended
        assert [event.actor for event in audit.events(session, room_id=room.id, action="continue_by_phone")] \
            == [f"staff:{room.host_id}"]
        assert audit.events(session, room_id=room.id, action="end") == []
        assert room.appointment is not None
        assert (room.appointment.outcome, room.appointment.outcome_confirmed) == ("continued_by_phone", False)
