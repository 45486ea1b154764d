"""Norwegian national identity numbers in free text: fødselsnummer, D-numbers and H-numbers.

The technical chat refuses a message carrying one (``visitt.live.chat``). A number is 11 digits: a
date of birth ``ddmmyy``, a three-digit individual number and two mod-11 control digits. The
checks are python-stdnum's (``stdnum.no.fodselsnummer``): control digits, a date that exists, a
century the individual number allows, and a birth date not in the future. That module knows the
D-number (for people without a fødselsnummer: 40 added to the day) and the H-number (a help number
used by the health services: 40 added to the month). It does not know the synthetic test persons of
Skatteetaten's Tenor (80 added to the month), which look exactly like real numbers; for those the
control digits are still stdnum's, and the date is checked as the H-number with the same date.

What is looked for is deliberately narrow, so a phone number or an order number is not refused by
accident: 11 digits standing alone, written in one piece or as 6 + 5 with one space, dot or hyphen
between (``010190 12345``), whose control digits are right and whose date exists. A number split
some other way, or spelt out in words, is not found; the rule shown above the chat input is the
main protection, this check the safety net.

Fødselsnummer issued from 2032 may use other values for the first control digit; those are not
recognised yet (nor by python-stdnum).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from stdnum.exceptions import ValidationError
from stdnum.no import fodselsnummer

_CANDIDATE = re.compile(r"(?<![0-9])([0-9]{6})[ .\-]?([0-9]{5})(?![0-9])")
_TENOR_MONTHS = range(81, 93)  # a Tenor test person's month: 80 + 1..12


def _tenor_test_person(number: str) -> bool:
    month = int(number[2:4])
    if month not in _TENOR_MONTHS:
        return False
    if number[9] != fodselsnummer.calc_check_digit1(number[:9]) or \
            number[10] != fodselsnummer.calc_check_digit2(number[:10]):
        return False
    as_h_number = f"{number[:2]}{month - 40:02d}{number[4:]}"
    try:
        return fodselsnummer.get_birth_date(as_h_number) <= dt.date.today()
    except ValidationError:
        return False


def is_valid(number: str) -> bool:
    """Whether ``number`` (exactly 11 ASCII digits) is a fødselsnummer, D-number, H-number or test person's number."""
    if len(number) != 11 or not number.isascii() or not number.isdigit():
        return False
    return fodselsnummer.is_valid(number) or _tenor_test_person(number)


def _normalise(text: str) -> str:
    # Digits from other scripts (Arabic-Indic, full-width) count as digits, and invisible format
    # characters (zero-width spaces) do not separate them.
    out = []
    for char in text:
        if unicodedata.category(char) == "Cf":
            continue
        out.append(str(unicodedata.decimal(char)) if char.isdecimal() else char)
    return "".join(out)


def find(text: str) -> list[str]:
    """Every national identity number in ``text``, as 11 plain digits, in order."""
    found = []
    for match in _CANDIDATE.finditer(_normalise(text)):
        number = match.group(1) + match.group(2)
        if is_valid(number):
            found.append(number)
    return found


def contains(text: str) -> bool:
    """Whether ``text`` carries at least one national identity number."""
    return bool(find(text))
