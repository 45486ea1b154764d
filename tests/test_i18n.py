"""The bokmål catalogue covers every string in the code, keeps every placeholder, and the right language is chosen."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from visitt import i18n
from visitt.outbox import invitation_text

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = i18n.LOCALE_DIR / "messages.pot"
NB = i18n.LOCALE_DIR / "nb" / "LC_MESSAGES" / "messages.po"
HOW_TO_FIX = (
    "Run these from the repository root, then translate the new entries in visitt/locale/nb/LC_MESSAGES/messages.po "
    "(see docs/i18n.md):\n"
    "  pybabel extract -F babel.cfg -k N_ -o visitt/locale/messages.pot .\n"
    "  pybabel update -N -i visitt/locale/messages.pot -d visitt/locale -l nb"
)
# A translation must carry the same %(name)s and {name} placeholders as its msgid. A stray % or brace counts
# too: the pages format every string with %, the SMS with str.format.
PERCENT = re.compile(r"%(?:\([^)]*\))?.?", re.DOTALL)
BRACE = re.compile(r"\{[^{}]*\}|[{}]")


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _listing(msgids: set[str]) -> str:
    return "\n".join(f"  - {msgid!r}" for msgid in sorted(msgids))


@pytest.fixture(scope="module")
def nb() -> Catalog:
    return _read(NB, "nb")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The strings the code holds right now: the documented extraction, written to a temporary file."""
    output = tmp_path_factory.mktemp("i18n") / "messages.pot"
    run = subprocess.run([sys.executable, "-m", "babel.messages.frontend", "--quiet", "extract", "-F", "babel.cfg",
                          "-k", "N_", "-o", str(output), "."], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, f"pybabel extract failed:\n{run.stderr}"
    return _read(output)


def _translated(catalog: Catalog) -> set[str]:
    return {message.id for message in catalog if message.id and message.string and not message.fuzzy}


def test_every_string_in_the_template_is_translated(nb: Catalog) -> None:
    missing = {message.id for message in _read(TEMPLATE) if message.id} - _translated(nb)
    assert not missing, f"No bokmål translation for:\n{_listing(missing)}\n{HOW_TO_FIX}"


def test_every_string_in_the_code_is_translated(nb: Catalog, fresh: Catalog) -> None:
    missing = {message.id for message in fresh if message.id} - _translated(nb)
    assert not missing, f"Strings in the code with no bokmål translation:\n{_listing(missing)}\n{HOW_TO_FIX}"


def test_no_entry_is_fuzzy(nb: Catalog) -> None:
    fuzzy = {message.id for message in nb if message.id and message.fuzzy}
    assert not fuzzy, f"Check these translations and remove the fuzzy flag:\n{_listing(fuzzy)}"


def test_translations_keep_the_placeholders(nb: Catalog) -> None:
    wrong = [
        f"  {message.id!r}\n    -> {message.string!r}" for message in nb if message.id and message.string
        if any(Counter(pattern.findall(str(message.id))) != Counter(pattern.findall(str(message.string)))
               for pattern in (PERCENT, BRACE))
    ]
    assert not wrong, "Placeholders differ between the English and the bokmål text:\n" + "\n".join(wrong)


def test_bokmal_is_used_at_run_time() -> None:
    assert i18n.translations("nb").gettext("Join") == "Bli med"
    assert i18n.translations("en").gettext("Join") == "Join"


def test_the_sms_comes_out_in_bokmal_with_every_value_filled_in() -> None:
    text = invitation_text("nb", when=dt.datetime(2026, 12, 1, 9, 30), url="https://v.example/v/abc", code="123456",
                           phone="22 11 80 80")
    assert text.startswith("Videokonsultasjon 01.12.2026 kl. 09:30.")
    assert "https://v.example/v/abc" in text and "123456" in text and text.endswith("Ring 22 11 80 80.")


@pytest.mark.parametrize(("accept_language", "chosen", "expected"), [
    ("nb-NO", None, "nb"),
    ("no", None, "nb"),
    ("nn", None, "nb"),
    ("en-US,en;q=0.9", None, "en"),
    ("sv-SE,nn;q=0.8,en;q=0.5", None, "nb"),
    (None, None, "nb"),
    ("", None, "nb"),
    ("de-DE,fr;q=0.9", None, "nb"),
    ("nb-NO", "en", "en"),
    ("en-US", "nb", "nb"),
    ("en-US", "xx", "en"),
    ("nn-NO,en;q=0.5", None, "nb"),
    ("no-NO", None, "nb"),
    ("EN-gb", None, "en"),
    ("en;q=0.5,nb-NO;q=0.9", None, "nb"),  # the weights count, not only the order
    ("de,en;q=0.8,nb;q=0.8", None, "en"),  # equal weights: the order written
    ("nb;q=0,en", None, "en"),             # q=0: not wanted at all
    ("en;q=nonsense,de", None, "nb"),      # a malformed entry is left out
    ("*", None, "nb"),
])
def test_negotiate(accept_language: str | None, chosen: str | None, expected: str) -> None:
    assert i18n.negotiate(accept_language, chosen) == expected
