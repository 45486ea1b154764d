"""More participants in Chromium: the clinician invites an interpreter during a running call; the
interpreter opens the link from their SMS, knocks, is seen as "Interpreter" and let in, and all three
see and hear each other (a mesh of three peer connections)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from visitt.testing import LiveServer

from .browser import DESK, call_between, link_in, wait_for_mesh

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
