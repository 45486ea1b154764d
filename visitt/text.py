"""Text one person types and another reads: names, chat, notes, reasons.

Such text is checked once, at the edge, by the same rule wherever it comes in (the signaling
protocol's models, the booking, invitation and portal forms, the JSON API, the command line):

- **Refused**: control characters (C0, DEL, C1, e.g. NUL) other than tab and line breaks, lone
  surrogates, and the Unicode bidirectional embeddings, overrides and isolates (U+202A-U+202E,
  U+2066-U+2069). These are invisible or reorder what follows them, so a name can be made to read
  as another ("Kari \\u202ennamdroN" shows as "Kari Nordmann"), and a NUL cuts text short in C code
  further down the line (a terminal, an SMS gateway, a log reader).
- **Whitespace stays whitespace**: tab and line breaks are folded into single spaces in one-line
  fields (names), and kept in multi-line ones (chat), where a Windows line break (CR LF) becomes LF.
- **Kept**: the direction *marks* LRM, RLM and ALM (U+200E, U+200F, U+061C) and the joiners ZWJ and
  ZWNJ: written Arabic, Persian and Urdu need them, and they reorder nothing around them.

A refused character is never silently stripped: the person who typed it is told, so what the
reader sees is exactly what the writer sent.
"""

from __future__ import annotations

import unicodedata
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from visitt.web.i18n import N_

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
WHITESPACE_CONTROLS = frozenset("\t\n\r")
CODE = "text_characters"  # the error code on the wire and in the API's fields
REFUSED = N_("Remove the invisible control or text-direction characters, then try again.")
NAME_REFUSED = N_("The name contains invisible control or text-direction characters. Type it again.")


def refused(text: str) -> str | None:
    """The first character of ``text`` that human text may not hold, as ``U+XXXX``; None if there is none."""
    for char in text:
        if char in WHITESPACE_CONTROLS:
            continue
        if char in BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Cs"):
            return f"U+{ord(char):04X}"
    return None


def one_line(text: str) -> str:
    """``text`` with its whitespace runs folded into single spaces and the ends trimmed."""
    return " ".join(text.split())


def _check(text: str) -> str:
    bad = refused(text)
    if bad is not None:
        raise PydanticCustomError(CODE, "contains a character that is not allowed ({char}): control and "
                                        "text-direction characters are refused", {"char": bad})
    return text


def _check_lines(text: str) -> str:
    return _check(text.replace("\r\n", "\n").replace("\r", "\n"))


# For pydantic models, after any length constraints: a refused character fails validation with the
# error type ``text_characters``.
LINE = AfterValidator(_check)  # one line; the reader folds its whitespace (:func:`one_line`)
LINES = AfterValidator(_check_lines)  # line breaks kept, CR LF and CR as LF
