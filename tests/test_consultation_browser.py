"""The core consultation end to end in Chromium with fake camera and microphone.

A clinician signs in and books; the patient opens the SMS link on a phone-sized screen, checks their
devices and knocks; the clinician sees and admits; both see and hear each other; the patient leaves.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from playwright.sync_api import expect

from visitt.store import audit
from visitt.store.models import Appointment, AppointmentState, RoomState
from visitt.testing import LiveServer

from .browser import DESK, PHONE, link_in, sign_in, wait_for_media
from .eventually import eventually

pytestmark = pytest.mark.browser


def test_book_knock_admit_call_leave(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    clinic = browser.new_context(**DESK)
    phone = browser.new_context(**PHONE)
    try:
        host = clinic.new_page()
        sign_in(host, server.url)

        # Book in the staff UI.
        host.get_by_role("link", name="Book consultation").first.click()
        host.get_by_label("Patient's full name").fill("Kari Nordmann")
        host.get_by_label("Mobile number").fill("412 34 567")
        tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
        host.get_by_label("Date").fill(tomorrow)
        host.get_by_label("Time").fill("10:15")
        host.get_by_role("button", name="Book and send SMS").click()
        expect(host.get_by_role("status").filter(has_text="Booked for")).to_be_visible()
        expect(host.get_by_role("cell", name="Kari Nordmann")).to_be_visible()

        (sms,) = server.sms()
        assert sms["to"] == "+4741234567"
        link = link_in(sms["body"])

        # The patient on a phone: device check, name, knock.
        patient = phone.new_page()
        patient.goto(link)
        preview = patient.locator("#preview")
        patient.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        patient.wait_for_function("() => document.querySelector('#level').value > 0")
        expect(patient.locator("#lobby").get_by_label("Camera", exact=True)).to_have_count(1)
        assert preview.is_visible()
        patient.get_by_label("Your full name").fill("Kari Nordmann")
        patient.get_by_role("button", name="Join").click()
        expect(patient.get_by_role("status").filter(has_text="has been notified")).to_be_visible()

        # The clinician sees the knock at once: highlighted entry and the tab title.
        knock = host.locator("#waiting li", has_text="Kari Nordmann")
        expect(knock).to_be_visible()
        expect(knock).to_have_class("knock new")
        expect(host).to_have_title("(1) Knocking – Dashboard – Visitt")
        knock.get_by_role("button", name="Admit").click()

        # Both see and hear each other.
        host_stats = wait_for_media(host)
        patient_stats = wait_for_media(patient)
        assert host_stats["peers"] == patient_stats["peers"] == 1
        expect(host.get_by_role("button", name="Unlock room")).to_be_visible()  # locked on admission
        expect(host).to_have_title("Dashboard – Visitt")

        # Microphone and camera toggles report their state.
        microphone = patient.get_by_role("button", name="Microphone")
        expect(microphone).to_have_attribute("aria-pressed", "true")
        microphone.click()
        expect(microphone).to_have_attribute("aria-pressed", "false")
        expect(host.locator("#tiles figure.muted")).to_have_count(1)

        # The clinician can unlock and lock again.
        host.get_by_role("button", name="Unlock room").click()
        expect(host.get_by_role("button", name="Lock room")).to_be_visible()
        host.get_by_role("button", name="Lock room").click()
        expect(host.get_by_role("button", name="Unlock room")).to_be_visible()

        # The host's page tells the server once it has seen media flow both ways (the outcome depends on it).
        def flowed() -> bool:
            with server.database.session() as session:
                return session.query(Appointment).one().media_flowed
        eventually(flowed, "media reported flowing both ways", timeout=30)

        # The patient leaves; the clinician sees it.
        patient.get_by_role("button", name="Leave").click()
        expect(patient.get_by_text("You have left the consultation")).to_be_visible()
        expect(host.get_by_text("Kari Nordmann left the consultation.")).to_be_visible()

        host.get_by_role("button", name="End consultation").click()
        expect(host.get_by_text("The consultation has ended.")).to_be_visible()
    finally:
        clinic.close()
        phone.close()

    with server.database.session() as session:
        appointment = session.query(Appointment).one()
        # the host's page saw media flow both ways, so Visitt suggests completed (visitt.outcomes)
        assert appointment.state is AppointmentState.completed and appointment.media_flowed
        assert appointment.room.state is RoomState.ended
        actions = [event.action for event in audit.events(session, room_id=appointment.room.id)]
    assert actions == ["booking", "knock", "lock", "admit", "unlock", "lock", "leave", "end"]


def _book(server: LiveServer) -> str:
    starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    booked = httpx.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                        json={"patient_name": "Ola Normann", "patient_phone": "+4798765432", "starts_at": starts})
    return str(booked.json()["join_url"])


def test_consultations_one_after_another_from_the_same_dashboard(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    clinic = browser.new_context(**DESK)
    phone = browser.new_context(**PHONE)
    try:
        host = clinic.new_page()
        sign_in(host, server.url)
        patient = phone.new_page()
        for name in ("First Patient", "Second Patient"):
            patient.goto(_book(server))
            patient.get_by_label("Your full name").fill(name)
            patient.get_by_role("button", name="Join").click()
            host.locator("#waiting li", has_text=name).get_by_role("button", name="Admit").click()
            wait_for_media(host)
            wait_for_media(patient)
            host.get_by_role("button", name="End consultation").click()
            expect(patient.get_by_text("The consultation has ended")).to_be_visible()
    finally:
        clinic.close()
        phone.close()


# Records desktop notifications the page shows (the real ones still go to the browser).
RECORD_NOTIFICATIONS = """
window.shownNotifications = [];
const Original = window.Notification;
window.Notification = class extends Original {
  constructor(title, options) { super(title, options); window.shownNotifications.push([title, options && options.body]); }
};
"""


def test_clinician_denies_a_knock(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    clinic = browser.new_context(**DESK, permissions=["notifications"])
    clinic.add_init_script(RECORD_NOTIFICATIONS)
    phone = browser.new_context(**PHONE)
    try:
        host = clinic.new_page()
        sign_in(host, server.url)
        patient = phone.new_page()
        patient.goto(_book(server))
        patient.get_by_label("Your full name").fill("Ola <b>Normann</b>")
        patient.get_by_role("button", name="Join").click()
        knock = host.locator("#waiting li", has_text="Ola <b>Normann</b>")  # shown as text, never as markup
        expect(knock).to_be_visible()
        assert host.evaluate("() => window.shownNotifications") == [["Knocking", "Ola <b>Normann</b>"]]
        knock.get_by_role("button", name="Deny").click()
        expect(patient.get_by_text("The clinician could not let you in")).to_be_visible()
        expect(host.get_by_text("Nobody is waiting.")).to_be_visible()
    finally:
        clinic.close()
        phone.close()
