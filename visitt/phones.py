"""The clinic's phone number as patients see it: written so a phone makes it tappable in an SMS
(``+47 69 86 00 00``: a plus, digits and single spaces), and as a ``tel:`` link on every page.

Numbers come from settings (``VISITT_CLINIC_PHONE``) and from departments, typed by people: with
dashes, brackets, dots or none of the country code. A number ``phonenumbers`` cannot read is kept
with only its digits, spaces and a leading plus, which is still what a phone recognises.
"""

from __future__ import annotations

import re

import phonenumbers

# A number written without a country code is read as Norwegian, the service's home (Settings.default_region).
REGION = "NO"


def written(number: str, region: str = REGION) -> str:
    """``number`` in international format for a text: ``"69 86-00 00"`` → ``"+47 69 86 00 00"``."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and phonenumbers.is_possible_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    plus = "+" if number.strip().startswith("+") else ""
    return plus + " ".join(re.sub(r"[^0-9 ]", " ", number).split())


def tel_uri(number: str, region: str = REGION) -> str:
    """The ``tel:`` address of ``number``: ``"tel:+4769860000"``."""
    return "tel:" + re.sub(r"[^0-9+]", "", written(number, region))


def possible(number: str, region: str = REGION) -> bool:
    """Whether ``number`` can be a phone number at all (``phonenumbers``' length and prefix check)."""
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(number, region))
    except phonenumbers.NumberParseException:
        return False
