"""More participants in Chromium: the clinician invites an interpreter during a running call; the
interpreter opens the link from their SMS, knocks, is seen as "Interpreter" and let in, and all three
see and hear each other (a mesh of three peer connections). And a colleague invited with their staff
account joins as co-host: let in by the clinician, they turn away a knock themselves, or let the patient in,
share a window and ask the patient to unmute."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from visitt import demo
from visitt.store.models import Staff
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


@contextmanager
def cohost_in_room(server: LiveServer, browser: Any) -> Iterator[tuple[Page, Page, Page, str]]:
    """The clinician with a room open and a colleague let in as co-host; a patient's phone, not yet
    on the link. Yields (clinician's page, co-host's page, patient's page, the patient's link)."""
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
        yield host, cohost, phone.new_page(), booked.json()["join_url"]
    finally:
        for context in (clinic, office, phone):
            context.close()


def knocks(patient: Page, join_url: str) -> None:
    patient.goto(join_url)
    patient.get_by_label("Your full name").fill("Kari Nordmann")
    patient.get_by_role("button", name="Join").click()


def test_a_colleague_joins_as_cohost_and_turns_a_knock_away(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with cohost_in_room(server, browser) as (host, cohost, patient, join_url):
        expect(cohost.get_by_role("button", name="End consultation")).to_have_count(0)
        expect(cohost.locator("#participants li.self")).to_contain_text("Colleague (co-host)")
        expect(cohost.locator("#participants li", has_text="Dr. Ingrid Berg")).to_contain_text("Clinician")
        expect(host.locator("#participants li", has_text="Ola Hansen")).to_contain_text("Colleague (co-host)")

        knocks(patient, join_url)
        seen = cohost.locator("#waiting li", has_text="Kari Nordmann")
        expect(seen).to_contain_text("Patient")
        seen.get_by_role("button", name="Deny").click()
        expect(patient.get_by_text("The clinician could not let you in")).to_be_visible()
        expect(host.get_by_text("Nobody is waiting.")).to_be_visible()


def test_a_cohost_lets_the_patient_in_shares_a_window_and_asks_them_to_unmute(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with cohost_in_room(server, browser) as (host, cohost, patient, join_url):
        knocks(patient, join_url)
        cohost.locator("#waiting li", has_text="Kari Nordmann").get_by_role("button", name="Admit").click()
        for page in (host, cohost, patient):
            wait_for_mesh(page, others=2, timeout=90)

        cohost.get_by_role("button", name="Share a window").click()
        expect(cohost.get_by_role("button", name="Stop sharing")).to_be_visible()
        for page in (host, patient):
            expect(page.locator("#participants li", has_text="Ola Hansen")).to_contain_text("Sharing a window")

        patient.get_by_role("button", name="Microphone", exact=True).click()
        in_list = cohost.locator("#participants li", has_text="Kari Nordmann")
        expect(in_list).to_contain_text("Microphone off")
        in_list.get_by_role("button", name="Ask to unmute").click()
        prompt = patient.get_by_role("alertdialog")
        expect(prompt).to_contain_text("Ola Hansen asks you to turn on your microphone.")
        prompt.get_by_role("button", name="Turn on microphone").click()
        expect(in_list).to_contain_text("Microphone on")
        expect(host.locator("#participants li", has_text="Kari Nordmann")).to_contain_text("Microphone on")
