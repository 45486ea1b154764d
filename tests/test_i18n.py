"""Every catalogue covers every string in the code and keeps every placeholder; the right language is chosen."""

from __future__ import annotations

import datetime as dt
import gettext
import re
import secrets
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from visitt.web import help_page
from visitt.web import i18n
from visitt.messaging import sms_segments
from visitt.messaging.outbox import invitation_text
from visitt.messaging.reminders import reminder_text
from visitt.testing import InProcess

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = i18n.LOCALE_DIR / "messages.pot"
# Every catalogue under visitt/locale, found on disk, and every language Visitt offers besides the source language:
# the two lists must agree (a supported language without a catalogue would show English to its readers).
CATALOGUES = sorted(po.parent.parent.name for po in i18n.LOCALE_DIR.glob("*/LC_MESSAGES/messages.po"))
TRANSLATED = [code for code in i18n.LANGUAGES if code != i18n.SOURCE]
HOW_TO_FIX = (
    "Run these from the repository root, then translate the new entries in visitt/locale/{lang}/LC_MESSAGES/"
    "messages.po (see docs/i18n.md):\n"
    "  pybabel extract -F babel.cfg -k N_ -o visitt/locale/messages.pot .\n"
    "  pybabel update -N -i visitt/locale/messages.pot -d visitt/locale -l {lang}"
)
# A translation must carry the same %(name)s and {name} placeholders as its msgid. A stray % or brace counts
# too: the pages format every string with %, the SMS with str.format.
PERCENT = re.compile(r"%(?:\([^)]*\))?.?", re.DOTALL)
BRACE = re.compile(r"\{[^{}]*\}|[{}]")


def _path(language: str) -> Path:
    return i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _listing(msgids: set[str]) -> str:
    return "\n".join(f"  - {msgid!r}" for msgid in sorted(msgids))


def _strings(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    """A message's id or string as a list: one entry, or one per plural form."""
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


@pytest.fixture(scope="module")
def catalogues() -> dict[str, Catalog]:
    return {language: _read(_path(language), language) for language in CATALOGUES}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The strings the code holds right now: the documented extraction, written to a temporary file."""
    output = tmp_path_factory.mktemp("i18n") / "messages.pot"
    run = subprocess.run([sys.executable, "-m", "babel.messages.frontend", "--quiet", "extract", "-F", "babel.cfg",
                          "-k", "N_", "-o", str(output), "."], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, f"pybabel extract failed:\n{run.stderr}"
    return _read(output)


def _translated(catalog: Catalog) -> set[str]:
    """The ids with a translation in every plural form the language has, and no fuzzy flag."""
    forms = catalog.num_plurals
    return {message.id if isinstance(message.id, str) else message.id[0] for message in catalog
            if message.id and not message.fuzzy and (strings := _strings(message.string)) and all(strings)
            and (isinstance(message.id, str) or len(strings) == forms)}


def _ids(catalog: Catalog) -> set[str]:
    return {message.id if isinstance(message.id, str) else message.id[0] for message in catalog if message.id}


@pytest.mark.in_process
@pytest.mark.parametrize("language", TRANSLATED)
def test_every_supported_language_has_a_catalogue(language: str) -> None:
    assert _path(language).exists(), (
        f"{language} ({i18n.LANGUAGES[language]}) is offered but has no catalogue; create it with\n"
        f"  pybabel init -i visitt/locale/messages.pot -d visitt/locale -l {language}")


def test_every_catalogue_is_a_supported_language() -> None:
    unknown = set(CATALOGUES) - set(TRANSLATED)
    assert not unknown, f"Catalogues for languages Visitt does not offer (add them to i18n.LANGUAGES): {unknown}"


@pytest.mark.parametrize("language", CATALOGUES)
def test_every_string_in_the_template_is_translated(catalogues: dict[str, Catalog], language: str) -> None:
    missing = _ids(_read(TEMPLATE)) - _translated(catalogues[language])
    assert not missing, (f"No {language} translation for:\n{_listing(missing)}\n"
                         + HOW_TO_FIX.format(lang=language))


@pytest.mark.parametrize("language", CATALOGUES)
def test_every_string_in_the_code_is_translated(catalogues: dict[str, Catalog], fresh: Catalog,
                                                language: str) -> None:
    missing = _ids(fresh) - _translated(catalogues[language])
    assert not missing, (f"Strings in the code with no {language} translation:\n{_listing(missing)}\n"
                         + HOW_TO_FIX.format(lang=language))


@pytest.mark.parametrize("language", CATALOGUES)
def test_no_entry_is_fuzzy(catalogues: dict[str, Catalog], language: str) -> None:
    fuzzy = {str(message.id) for message in catalogues[language] if message.id and message.fuzzy}
    assert not fuzzy, f"Check these {language} translations and remove the fuzzy flag:\n{_listing(fuzzy)}"


@pytest.mark.parametrize("language", CATALOGUES)
def test_translations_keep_the_placeholders(catalogues: dict[str, Catalog], language: str) -> None:
    wrong = []
    for message in catalogues[language]:
        ids = _strings(message.id)
        if not ids:
            continue
        for string in _strings(message.string):
            # Every plural form must keep the plural msgid's placeholders (a language's "one" form may
            # still need the number: Polish "1 minutę" and "21 minut" share no other form).
            source = ids[-1]
            if string and any(Counter(pattern.findall(source)) != Counter(pattern.findall(string))
                              for pattern in (PERCENT, BRACE)):
                wrong.append(f"  {source!r}\n    -> {string!r}")
    assert not wrong, f"Placeholders differ between the English and the {language} text:\n" + "\n".join(wrong)


@pytest.mark.parametrize("language", CATALOGUES)
def test_plural_forms_follow_babel(catalogues: dict[str, Catalog], language: str) -> None:
    """The catalogue's Plural-Forms header picks the same form as Babel's (CLDR's) rule for every number."""
    catalog, expected = catalogues[language], Catalog(locale=language)
    assert catalog.num_plurals == expected.num_plurals, (
        f"{language}: Plural-Forms says nplurals={catalog.num_plurals}, the language has {expected.num_plurals}:\n"
        f"  Plural-Forms: {expected.plural_forms}")
    ours, babels = gettext.c2py(catalog.plural_expr), gettext.c2py(expected.plural_expr)
    differ = [n for n in range(1001) if ours(n) != babels(n)]
    assert not differ, (f"{language}: Plural-Forms picks another form than Babel for n = {differ[:10]}:\n"
                        f"  Plural-Forms: {expected.plural_forms}")


def test_each_language_is_used_at_run_time() -> None:
    assert i18n.translations("nb").gettext("Join") == "Bli med"
    assert i18n.translations("nn").gettext("Join") == "Bli med"
    assert i18n.translations("nn").gettext("Leave") == "Gå ut"
    assert i18n.translations("pl").gettext("Join") == "Dołącz"
    assert i18n.translations("en").gettext("Join") == "Join"


def test_the_sms_comes_out_in_bokmal_with_every_value_filled_in() -> None:
    text = invitation_text("nb", when=dt.datetime(2026, 12, 1, 9, 30), url="https://v.example/v/abc", code="123456",
                           phone="22 11 80 80", help_url="https://v.example/help/nb")
    assert text.startswith("Videokonsultasjon 01.12.2026 kl. 09:30.")
    assert "https://v.example/v/abc" in text and "123456" in text and text.endswith("Ring +47 22 11 80 80.")  # written so a phone can dial it
    assert "Slik forbereder du deg: https://v.example/help/nb " in text


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_the_invitation_sms_fits_in_three_parts(language: str) -> None:
    """Measured as an operator sends it: GSM-7 when every character allows, else UCS-2 (Arabic, Urdu, Polish)."""
    url = "https://video.sykehuset.no/v/" + secrets.token_urlsafe(32)  # as long as a real link
    guide = help_page.address("https://video.sykehuset.no", language)
    text = invitation_text(language, when=dt.datetime(2026, 12, 1, 9, 30), url=url, code="123456",
                           phone="+47 61 27 10 00", help_url=guide)
    parts = sms_segments.count(text)
    print(f"{language}: {parts.count} SMS parts, {parts.encoding}, {parts.units} units, {len(text)} characters")
    assert url in text and "123456" in text and "+47 61 27 10 00" in text and guide in text
    assert parts.count <= 3, f"The {language} invitation takes {parts.count} SMS parts ({parts.encoding}):\n{text}"


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_the_reminder_sms_links_the_help_page_in_three_parts(language: str) -> None:
    address = "https://video.sykehuset.no"
    text = reminder_text(language, when=dt.datetime(2026, 12, 1, 9, 30), code="123456", address=address,
                         phone="+47 61 27 10 00")
    parts = sms_segments.count(text)
    print(f"{language}: reminder in {parts.count} SMS parts, {parts.encoding}, {parts.units} units")
    assert f"{address}/help/{language}" in text and "123456" in text and "+47 61 27 10 00" in text
    assert parts.count <= 3, f"The {language} reminder takes {parts.count} SMS parts ({parts.encoding}):\n{text}"


@pytest.mark.parametrize(("language", "direction"), [
    ("nb", "ltr"), ("nn", "ltr"), ("en", "ltr"), ("pl", "ltr"), ("so", "ltr"), ("ar", "rtl"), ("ur", "rtl")])
def test_direction(language: str, direction: str) -> None:
    assert i18n.direction(language) == direction


@pytest.mark.parametrize(("accept_language", "chosen", "expected"), [
    ("nb-NO", None, "nb"),
    ("no", None, "nb"),
    ("no-NO", None, "nb"),
    ("nn", None, "nn"),
    ("nn-NO,nb;q=0.9", None, "nn"),
    ("en-US,en;q=0.9", None, "en"),
    ("sv-SE,nn;q=0.8,en;q=0.5", None, "nn"),
    ("pl-PL,pl;q=0.9", None, "pl"),
    ("ar-SA", None, "ar"),
    ("ur-PK", None, "ur"),
    ("so-SO", None, "so"),
    (None, None, "nb"),  # no language stated at all: the clinic's own
    ("", None, "nb"),
    ("de-DE,fr;q=0.9", None, "en"),  # only languages Visitt does not have: English, not bokmål
    ("nb-NO", "en", "en"),
    ("en-US", "nb", "nb"),
    ("en-US", "nn", "nn"),
    ("en-US", "xx", "en"),
    ("nn-NO,en;q=0.5", None, "nn"),
    ("EN-gb", None, "en"),
    ("en;q=0.5,nb-NO;q=0.9", None, "nb"),  # the weights count, not only the order
    ("de,en;q=0.8,nb;q=0.8", None, "en"),  # equal weights: the order written
    ("nb;q=0,en", None, "en"),             # q=0: not wanted at all
    ("en;q=nonsense,de", None, "en"),      # a malformed entry is left out; German is not offered
    ("nb;q=0", None, "en"),                # not bokmål, and nothing else named
    ("*", None, "nb"),                     # any language: the clinic's own
])
def test_negotiate(accept_language: str | None, chosen: str | None, expected: str) -> None:
    assert i18n.negotiate(accept_language, chosen) == expected


def test_pages_offer_every_language_and_turn_right_to_left(server: InProcess) -> None:
    with server.client() as client:
        arabic = client.get("/?lang=ar")
        assert '<html lang="ar" dir="rtl">' in arabic.text
        assert client.cookies.get("visitt_lang") == "ar"
        switcher = re.findall(r'<a href="\?lang=(\w+)" lang="\1" hreflang="\1"[^>]*>([^<]+)</a>', arabic.text)
        assert switcher == list(i18n.LANGUAGES.items())
        assert '<html lang="ur" dir="rtl">' in client.get("/?lang=ur").text
        polish = client.get("/test?lang=pl").text
        assert '<html lang="pl" dir="ltr">' in polish and "Sprawdź swój sprzęt" in polish
        # The clinic's number stays left to right inside right-to-left text, and dials when tapped.
        assert f'href="tel:+4769860000" dir="ltr">{server.settings.clinic_phone}</a>' in client.get("/test?lang=ar").text
    nynorsk = server.get(f"{server.url}/test", headers={"Accept-Language": "nn-NO,nb;q=0.8"}).text
    assert '<html lang="nn" dir="ltr">' in nynorsk and "Test utstyret ditt" in nynorsk
    german = server.get(f"{server.url}/test", headers={"Accept-Language": "de-DE,de;q=0.9"}).text
    assert '<html lang="en" dir="ltr">' in german and "Test your equipment" in german


def test_every_state_has_words_on_the_staff_pages() -> None:
    """Each state a staff page can show has a label (``{{ value|state(kind) }}`` fails on a missing one)."""
    from visitt.messaging import delivery
    from visitt.store.models import AppointmentState, OutboxState, ParticipantState, RoomState

    kinds = {"appointment": AppointmentState, "room": RoomState, "participant": ParticipantState,
             "outbox": OutboxState}
    expected = {(kind, state.value) for kind, enum in kinds.items() for state in enum}
    expected |= {("delivery", status) for status in delivery.STATUSES}
    assert set(i18n.STATE_LABELS) == expected
    assert i18n.state_label("appointment", AppointmentState.no_show, "nb") == "ikke møtt"
    assert i18n.state_label("delivery", "delivered", "ar") == "تم التسليم"
