"""More participants in Chromium: the clinician invites an interpreter during a running call; the
interpreter opens the link from their SMS, knocks, is seen as "Interpreter" and let in, and all three
see and hear each other (a mesh of three peer connections). And a colleague invited with their staff
account joins as co-host: let in by the clinician, they turn away a knock themselves."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from visitt import demo
from visitt.models import Staff
from visitt.testing import LiveServer

from .browser import DESK, PHONE, call_between, link_in, sign_in, wait_for_mesh

pytestmark = pytest.mark.browser


def test_an_interpreter_invited_by_sms_is_admitted_into_a_running_call(server: LiveServer,
                                                                        browser) -> None:  # type: ignore[no-untyped-def]
    with call_between(server, browser) as (host, patient):
        host.get_by_text("Invite a companion, an interpreter or a colleague").click()
        host.get_by_label("Full name", exact=True).fill("Ivan Petrov")
        host.get_by_label("Role", exact=True).select_option("interpreter")
        host.get_by_label("Mobile number", exact=True).fill("412 34 568")
        host.get_by_role("button", name="Send invitation").click()
        expect(host.locator("#invite-status")).to_contain_text("The SMS to Ivan Petrov has been queued.")

        (sms,) = [sms for sms in server.sms(count=2, wait=30) if sms["to"] == "+4741234568"]
        assert "som tolk" in sms["body"]  # in the language of the patient's SMS
        laptop = browser.new_context(**DESK)
        try:
            interpreter = laptop.new_page()
            interpreter.goto(link_in(sms["body"]))
            interpreter.get_by_label("Your full name").fill("Ivan Petrov")
            interpreter.get_by_role("button", name="Join").click()

            knock = host.locator("#waiting li", has_text="Ivan Petrov")
            expect(knock).to_contain_text("Interpreter", timeout=30_000)
            expect(host.locator("#call-status")).to_have_text("Ivan Petrov (Interpreter) is waiting to come in.")
            knock.get_by_role("button", name="Admit").click()

            for page in (host, patient, interpreter):
                wait_for_mesh(page, others=2, timeout=90)
            for page in (host, patient):
                expect(page.locator("#participants li", has_text="Ivan Petrov")).to_contain_text("Interpreter")
            expect(interpreter.locator("#participants li.self")).to_contain_text("Interpreter")
            expect(interpreter.locator("#participants li", has_text="Kari Nordmann")).to_contain_text("Patient")
        finally:
            laptop.close()


def test_a_colleague_joins_as_cohost_and_turns_a_knock_away(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with server.database.session() as session:
        ola = session.scalar(select(Staff.id).where(Staff.email == demo.PEOPLE[1][0]))
    starts_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0).isoformat()
    booked = httpx.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                        json={"patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": starts_at,
                              "participants": [{"name": "Ola Hansen", "kind": "colleague", "phone": "412 34 569",
                                                "staff_id": ola}]})
    assert booked.status_code == 201, booked.text
    clinic, office, phone = (browser.new_context(**DESK), browser.new_context(**DESK), browser.new_context(**PHONE))
    try:
        host = clinic.new_page()
        sign_in(host, server.url)
        host.get_by_role("button", name="Open room").click()
        expect(host.locator("#call")).to_be_visible()

        cohost = office.new_page()
        sign_in(cohost, server.url, demo.PEOPLE[1][0])
        cohost.get_by_role("link", name="Join as co-host").click()
        cohost.get_by_role("button", name="Go to the waiting room").click()
        expect(cohost.get_by_text("The clinician has been told that you are waiting.")).to_be_visible()
        knock = host.locator("#waiting li", has_text="Ola Hansen")
        expect(knock).to_contain_text("Colleague")
        knock.get_by_role("button", name="Admit").click()

        expect(cohost.locator("#call")).to_be_visible()
        expect(cohost.get_by_role("button", name="End consultation")).to_have_count(0)
        expect(cohost.locator("#participants li.self")).to_contain_text("Colleague (co-host)")
        expect(cohost.locator("#participants li", has_text="Dr. Ingrid Berg")).to_contain_text("Clinician")
        expect(host.locator("#participants li", has_text="Ola Hansen")).to_contain_text("Colleague (co-host)")

        patient = phone.new_page()
        patient.goto(booked.json()["join_url"])
        patient.get_by_label("Your full name").fill("Kari Nordmann")
        patient.get_by_role("button", name="Join").click()
        seen = cohost.locator("#waiting li", has_text="Kari Nordmann")
        expect(seen).to_contain_text("Patient")
        seen.get_by_role("button", name="Deny").click()
        expect(patient.get_by_text("The clinician could not let you in")).to_be_visible()
        expect(host.get_by_text("Nobody is waiting.")).to_be_visible()
    finally:
        for context in (clinic, office, phone):
            context.close()
