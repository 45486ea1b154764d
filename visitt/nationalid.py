"""Norwegian national identity numbers in free text: fødselsnummer, D-numbers and H-numbers.

The technical chat refuses a message carrying one (``visitt.chat``). A number is 11 digits: a
date of birth ``ddmmyy``, a three-digit individual number and two mod-11 control digits. A
D-number (for people without a fødselsnummer) adds 4 to the first digit, so its day is 41-71.
An H-number (a help number used by the health services) adds 4 to the third digit, and the test
persons of NAV and Skatteetaten's Tenor add 40 and 80 to the month; all are personal data or
look exactly like it, so the month may be 1-12, 41-52 or 81-92.

What is looked for is deliberately narrow, so a phone number or an order number is not refused by
accident: 11 digits standing alone, written in one piece or as 6 + 5 with one space, dot or hyphen
between (``010190 12345``), whose control digits are right and whose date exists. A number split
some other way, or spelt out in words, is not found; the rule shown above the chat input is the
main protection, this check the safety net.

Fødselsnummer issued from 2032 may use other values for the first control digit; those are not
recognised yet.
"""

from __future__ import annotations

import calendar
import re
import unicodedata

FIRST_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
SECOND_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_CANDIDATE = re.compile(r"(?<![0-9])([0-9]{6})[ .\-]?([0-9]{5})(?![0-9])")
_MONTH_OFFSETS = (0, 40, 80)  # plain; H-number or NAV test person; Tenor test person


def _control(digits: str, weights: tuple[int, ...]) -> int | None:
    remainder = sum(int(digit) * weight for digit, weight in zip(digits, weights)) % 11
    control = (11 - remainder) % 11
    return None if control == 10 else control  # 10: no number has these first digits


def control_digits(first_nine: str) -> str | None:
    """The two control digits for the first nine digits, or ``None`` if no valid number starts so."""
    if len(first_nine) != 9 or not first_nine.isascii() or not first_nine.isdigit():
        raise ValueError("expected nine digits")
    first = _control(first_nine, FIRST_WEIGHTS)
    if first is None:
        return None
    second = _control(first_nine + str(first), SECOND_WEIGHTS)
    if second is None:
        return None
    return f"{first}{second}"


def _plausible_date(digits: str) -> bool:
    day, month = int(digits[0:2]), int(digits[2:4])
    if day > 40:  # D-number
        day -= 40
    month = next((month - offset for offset in _MONTH_OFFSETS if 1 <= month - offset <= 12), 0)
    if not month:
        return False
    return 1 <= day <= calendar.monthrange(2000, month)[1]  # a leap year: 29 February may be anyone's


def is_valid(number: str) -> bool:
    """Whether ``number`` (exactly 11 ASCII digits) is a well-formed fødselsnummer, D-number or H-number."""
    if len(number) != 11 or not number.isascii() or not number.isdigit():
        return False
    return _plausible_date(number) and control_digits(number[:9]) == number[9:]


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
