"""Gettext catalogues (Babel) and language choice.

The ``.po`` files under ``visitt/locale`` are compiled in memory at first use, so the repository
holds no binary ``.mo`` files and there is no build step. English is the source language.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent.parent / "locale"
# The languages the hospitals' guides require, each named in its own language for the switcher.
# English is the source language; every other one has a catalogue at locale/<code>/LC_MESSAGES/messages.po.
LANGUAGES = {"nb": "Norsk bokmål", "nn": "Norsk nynorsk", "en": "English", "ar": "العربية", "pl": "Polski",
             "so": "Soomaali", "ur": "اردو"}
RIGHT_TO_LEFT = frozenset({"ar", "ur"})
SOURCE = "en"
DEFAULT = "nb"  # when the browser states no language at all
FALLBACK = "en"  # when the browser states only languages Visitt does not have
# "no" is the macrolanguage; a browser set to plain Norwegian reads bokmål.
ALIASES = {"no": "nb"}


def N_(text: str) -> str:
    """Marks a string for the catalogue (``pybabel extract -k N_``); it is translated where it is shown."""
    return text


@lru_cache(maxsize=None)
def translations(language: str) -> NullTranslations:
    po = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def direction(language: str) -> str:
    """``rtl`` for Arabic and Urdu, ``ltr`` for the rest: the ``dir`` of the page."""
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


def _preferred(accept_language: str) -> list[str]:
    """The tags of an ``Accept-Language`` header, most wanted first (by ``q``, then in the order written; ``q=0``
    and the ``*`` wildcard left out), each followed by its language alone so ``no-NO`` finds the alias of ``no``."""
    weighted: list[tuple[float, str]] = []
    for part in accept_language.split(","):
        tag, _, parameters = part.partition(";")
        tag = tag.strip().lower()
        name, _, value = parameters.strip().partition("=")
        try:
            q = float(value) if name.strip() == "q" else 1.0
        except ValueError:
            continue
        if tag and tag != "*" and q > 0:
            weighted.append((q, tag))
    weighted.sort(key=lambda entry: -entry[0])  # stable: equal weights keep the header's order
    return [wanted for _, tag in weighted for wanted in (tag, tag.split("-")[0])]


def negotiate(accept_language: str | None, chosen: str | None = None) -> str:
    """The explicit choice if supported, else the browser's most wanted supported language (Babel's
    ``negotiate_locale``); English when the browser names only languages Visitt does not have, bokmål when it
    names none (no header, or only ``*``)."""
    if chosen in LANGUAGES:
        return chosen
    preferred = _preferred(accept_language or "")
    found = negotiate_locale(preferred, list(LANGUAGES), sep="-", aliases=ALIASES) if preferred else None
    if found:
        return found
    stated = [part for part in (accept_language or "").split(",") if part.split(";")[0].strip() not in ("", "*")]
    return FALLBACK if stated else DEFAULT


# The dashboard shows ``_(state.value.replace("_", " "))``; these entries put the state names in the catalogue.
APPOINTMENT_STATES = (N_("booked"), N_("in progress"), N_("completed"), N_("no show"), N_("technical failure"),
                      N_("cancelled"))
