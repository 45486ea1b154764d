"""How many SMS parts a text costs: GSM 03.38 (7-bit) when every character is in its alphabet, else UCS-2.

An operator sends a text in the GSM 7-bit alphabet when it can: 160 septets in one SMS, 153 in each part of a
longer one (the rest of each part is the header that joins them). The characters of the extension table take two
septets each (an escape and the character), and a part never ends between the two. Any other character - Arabic,
Urdu, Polish "ą" or a Somali text with a curly apostrophe - sends the whole text as UCS-2: 70 UTF-16 code units in
one SMS, 67 in each part, and a part never ends inside a surrogate pair.
"""

from __future__ import annotations

from dataclasses import dataclass

# 3GPP TS 23.038 §6.2.1: the default alphabet and its extension table (ESC + character).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class Segments:
    """The encoding a text goes out in and the number of SMS parts it takes."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    count: int


def is_gsm7(text: str) -> bool:
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def _parts(sizes: list[int], single: int, part: int) -> int:
    """Parts needed for characters of the given sizes, never splitting one character across two parts."""
    if sum(sizes) <= single:
        return 1 if sizes else 0
    count, used = 1, 0
    for size in sizes:
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return count


def count(text: str) -> Segments:
    """The SMS parts ``text`` takes."""
    if is_gsm7(text):
        sizes = [2 if char in GSM7_EXTENSION else 1 for char in text]
        return Segments("GSM-7", sum(sizes), _parts(sizes, GSM7_SINGLE, GSM7_PART))
    sizes = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return Segments("UCS-2", sum(sizes), _parts(sizes, UCS2_SINGLE, UCS2_PART))
