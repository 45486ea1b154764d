"""The clinic's number as patients get it: dialable in an SMS, a tel: link on a page."""

from __future__ import annotations

import datetime as dt

import pytest

from visitt import phones
from visitt.invites import invitation_text
from visitt.web.pages import telephone
from visitt.messaging.reminders import reminder_text


@pytest.mark.parametrize("typed", ["+47 69 86 00 00", "69860000", "69 86-00 00", "(+47) 69.86.00.00", "0047 69860000"])
def test_a_number_however_typed_is_written_internationally(typed: str) -> None:
    assert phones.written(typed) == "+47 69 86 00 00"
    assert phones.tel_uri(typed) == "tel:+4769860000"


def test_a_number_phonenumbers_cannot_read_keeps_only_what_a_phone_dials() -> None:
    assert phones.written("+47 (22) 11") == "+47 22 11"
    assert phones.tel_uri("+47 (22) 11") == "tel:+472211"


def test_every_sms_writes_the_number_so_a_phone_can_dial_it() -> None:
    when = dt.datetime(2026, 12, 1, 9, 30)
    for language in ("nb", "en", "ar", "ur"):
        invitation = invitation_text(language, "interpreter", when=when, url="https://v.example/v/x", code="123456",
                                     phone="69 86-00 00")
        reminder = reminder_text(language, when=when, code="123456", address="", phone="69 86-00 00")
        for text in (invitation, reminder):
            assert "+47 69 86 00 00" in text, text


def test_the_page_link_dials_and_stays_left_to_right() -> None:
    assert str(telephone("69 86-00 00")) == '<a class="tel" href="tel:+4769860000" dir="ltr">+47 69 86 00 00</a>'
    assert str(telephone("")) == ""
