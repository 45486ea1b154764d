"""Gettext catalogues (Babel) and language choice.

The ``.po`` files under ``visitt/locale`` are compiled in memory at first use, so the repository
holds no binary ``.mo`` files and there is no build step. English is the source language.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"nb": "Norsk (bokmål)", "en": "English"}
DEFAULT = "nb"


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


def negotiate(accept_language: str | None, chosen: str | None = None) -> str:
    """The explicit choice if supported, else the browser's first supported language, else bokmål."""
    if chosen in LANGUAGES:
        return chosen
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        primary = tag.split("-")[0]
        if primary in ("no", "nn", "nb"):
            return "nb"
        if primary in LANGUAGES:
            return primary
    return DEFAULT


# The dashboard shows ``_(state.value.replace("_", " "))``; these entries put the state names in the catalogue.
APPOINTMENT_STATES = (N_("booked"), N_("in progress"), N_("completed"), N_("no show"), N_("technical failure"),
                      N_("cancelled"))
