"""The technical chat end to end in Chromium: a patient on a phone in Norwegian and a clinician at a desk
in English write to each other, use quick phrases (each shown in the reader's language), are asked before
sending what looks like personal details, and a national identity number is refused."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from visitt import demo
from visitt.testing import LiveServer

from .browser import DESK, PHONE, sign_in
from .peers import book
from .test_nationalid import numbers

pytestmark = pytest.mark.browser
FNR = numbers(1)[0]
MESSAGES = "#chat .chat-messages li"


def _admitted_call(server: LiveServer, host: Page, patient: Page) -> None:
    sign_in(host, server.url)
    join_url, _token = book(server, "Kari Nordmann")
    patient.goto(join_url)
    patient.get_by_label("Hele navnet ditt").fill("Kari Nordmann")
    patient.get_by_role("button", name="Bli med").click()
    host.locator("#waiting li", has_text="Kari Nordmann").get_by_role("button", name="Admit").click()
    expect(host.locator("#chat")).to_be_visible()
    expect(patient.locator("#chat")).to_be_visible()


def test_patient_and_clinician_chat(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    clinic = browser.new_context(**DESK)
    phone = browser.new_context(**{**PHONE, "locale": "nb-NO"})
    try:
        host, patient = clinic.new_page(), phone.new_page()
        _admitted_call(server, host, patient)

        # The rule above the input, in each reader's language; folded away on the phone, open on the desk.
        expect(host.get_by_text("Only technical messages – no health information or personal details")).to_be_visible()
        expect(host.locator("#chat")).to_have_attribute("open", "")
        expect(patient.locator("#chat")).not_to_have_attribute("open", "")

        # A quick phrase from the clinician: the folded panel counts it, and it reads in Norwegian.
        host.get_by_role("button", name="I can't hear you.").click()
        expect(host.locator(MESSAGES, has_text="I can't hear you.")).to_contain_text("You")
        expect(patient.locator("#chat .chat-unread")).to_have_text("1")
        patient.locator("#chat > summary").click()
        expect(patient.locator("#chat .chat-unread")).to_be_hidden()
        expect(patient.get_by_text("Bare tekniske meldinger – ingen helseopplysninger eller personopplysninger")) \
            .to_be_visible()
        heard = patient.locator(MESSAGES, has_text="Jeg hører deg ikke.")
        expect(heard).to_contain_text(demo.PEOPLE[0][2])

        # Free text from the patient, then a quick phrase the clinician reads in English.
        patient.get_by_label("Melding", exact=True).fill("Lyden hakker litt hos meg")
        patient.get_by_role("button", name="Send", exact=True).click()
        expect(host.locator(MESSAGES, has_text="Lyden hakker litt hos meg")).to_contain_text("Kari Nordmann")
        expect(patient.locator(MESSAGES, has_text="Lyden hakker litt hos meg")).to_contain_text("Du")
        expect(patient.get_by_label("Melding", exact=True)).to_have_value("")
        patient.get_by_role("button", name="Jeg ser deg ikke.").click()
        expect(host.locator(MESSAGES, has_text="I can't see you.")).to_contain_text("Kari Nordmann")

        # A national identity number: the page asks first (it looks like a phone number), the server refuses.
        patient.get_by_label("Melding", exact=True).fill(f"Fødselsnummeret mitt er {FNR[:6]} {FNR[6:]}")
        patient.get_by_label("Melding", exact=True).press("Enter")
        patient.get_by_role("button", name="Send likevel").click()
        expect(patient.get_by_role("alert").filter(has_text="Ikke sendt: meldingen inneholder et fødselsnummer")) \
            .to_be_visible()
        expect(patient.get_by_label("Melding", exact=True)).to_have_value(f"Fødselsnummeret mitt er {FNR[:6]} {FNR[6:]}")

        # An e-mail address from the clinician waits for a decision; editing it sends nothing.
        host.get_by_label("Message", exact=True).fill("Send me an e-mail at kari@example.no")
        host.get_by_role("button", name="Send", exact=True).click()
        expect(host.get_by_text("This message seems to contain personal details")).to_be_visible()
        host.get_by_role("button", name="Edit message").click()
        expect(host.get_by_text("This message seems to contain personal details")).to_be_hidden()
        host.get_by_label("Message", exact=True).fill("Is your <b>microphone</b> on?")
        host.get_by_role("button", name="Send", exact=True).click()
        expect(patient.locator(MESSAGES, has_text="Is your <b>microphone</b> on?")).to_have_count(1)  # text, not markup
        expect(patient.locator(f"{MESSAGES} b")).to_have_count(0)

        # Everything that reached each side, in order; the refused and the withdrawn messages reached nobody.
        expect(host.locator(f"{MESSAGES} .text")).to_have_text(
            ["I can't hear you.", "Lyden hakker litt hos meg", "I can't see you.", "Is your <b>microphone</b> on?"])
        expect(patient.locator(f"{MESSAGES} .text")).to_have_text(
            ["Jeg hører deg ikke.", "Lyden hakker litt hos meg", "Jeg ser deg ikke.", "Is your <b>microphone</b> on?"])

        # The call ends: the messages are gone, and nothing was kept in the browser's storage.
        host.get_by_role("button", name="End consultation").click()
        expect(patient.get_by_text("Konsultasjonen er avsluttet")).to_be_visible()
        expect(host.locator(MESSAGES)).to_have_count(0)
        expect(patient.locator(MESSAGES)).to_have_count(0)
        for page in (host, patient):
            assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    finally:
        clinic.close()
        phone.close()


RULES = [
    ("I can't hear you, is your microphone on?", []),
    ("Restart the browser at 10.15, version 10.15.3", []),
    ("Room 1234567", []),
    ("call me on 412 34 567", ["phone"]),
    ("+47 41234567", ["phone"]),
    ("(22) 11-80-80", ["phone"]),
    (f"{FNR[:6]} {FNR[6:]}", ["phone"]),
    ("kari.nordmann@example.no", ["email"]),
    ("born 12.05.1990", ["date"]),
    ("12/5/90", ["date"]),
    ("1990-05-12", ["date"]),
    ("født 12. mai 1990", ["date"]),
    ("12 May 1990", ["date"]),
    ("mail a@b.no or 41234567, born 1.2.1990", ["date", "email", "phone"]),
]


def test_the_chat_rules(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    """``concerns()`` in chat.js, run where it runs: in the browser, as the pages load it."""
    context = browser.new_context(**DESK)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/")
        found = page.evaluate("""async (texts) => {
            const { concerns } = await import("/static/js/chat.js");
            return texts.map((text) => concerns(text).sort());
        }""", [text for text, _expected in RULES])
        assert dict(zip([text for text, _ in RULES], found)) == {text: expected for text, expected in RULES}
    finally:
        context.close()
