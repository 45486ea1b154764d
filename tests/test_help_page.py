"""The patient's help page (visitt/help_page.py): one per language at /help/<lang>, linked from every page a
patient sees, with the clinic's and the IT helpdesk's numbers as links that ring them, and screenshots of
Visitt itself that load only when scrolled to and stay small."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from visitt.web import i18n
from visitt.testing import LiveServer

from .conftest import make_settings
from .peers import book

HELPDESK = "+47 55 97 65 51"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(make_settings(tmp_path_factory.mktemp("help"), helpdesk_phone=HELPDESK)).start()
    yield live
    live.stop()


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_every_language_has_its_help_page(server: LiveServer, language: str) -> None:
    page = server.get(f"{server.url}/help/{language}")
    assert page.status_code == 200
    direction = "rtl" if language in i18n.RIGHT_TO_LEFT else "ltr"
    assert f'<html lang="{language}" dir="{direction}">' in page.text
    gettext = i18n.translations(language).gettext
    for heading in ("What you need", "How to prepare", "Step by step", "If something goes wrong",
                    "Privacy and consent", "Phone numbers"):
        assert f">{gettext(heading)}</h2>" in page.text, heading
    # the numbers ring when tapped, and stay left to right in Arabic and Urdu
    assert '<a class="tel" href="tel:+4769860000" dir="ltr">+47 69 86 00 00</a>' in page.text
    assert '<a class="tel" href="tel:+4755976551" dir="ltr">+47 55 97 65 51</a>' in page.text
    images = re.findall(r'<img src="([^"]+)"[^>]*>', page.text)
    assert len(images) == 4
    for tag in re.findall(r"<img [^>]*>", page.text):
        assert 'loading="lazy"' in tag and 'alt="' in tag and 'width="' in tag and 'height="' in tag
    for src in images:
        assert src.startswith(f"/static/help/{language}-")
        image = server.get(f"{server.url}{src}")
        assert image.status_code == 200 and image.headers["content-type"] == "image/webp"
        assert len(image.content) < 25_000, (src, len(image.content))


def test_the_troubleshooting_table_says_what_to_do(server: LiveServer) -> None:
    text = " ".join(server.get(f"{server.url}/help/en").text.split())
    for problem, answer in [
        ("You cannot find a private place", "whether a phone consultation is good enough"),
        ("You cannot connect", "Open the link again. If that does not help, restart your phone or PC"),
        ("You cannot connect", "call the IT helpdesk at"),
        ("Your health has got worse", "Contact the clinic as soon as possible"),
    ]:
        assert re.search(f"{problem}</th>\\s*<td>(?:(?!</td>).)*{re.escape(answer)}", text), (problem, answer)
    for fact in ("Nothing is recorded", "medical record", "Joining is voluntary", "withdraw your consent"):
        assert fact in text


def test_without_a_helpdesk_technical_trouble_goes_to_the_clinic(tmp_path: Path) -> None:
    live = LiveServer(make_settings(tmp_path)).start()
    try:
        text = live.get(f"{live.url}/help/en").text
    finally:
        live.stop()
    assert "IT helpdesk" not in text
    assert "If it still does not work, call the clinic at" in text


def test_help_without_a_language_is_the_readers(server: LiveServer) -> None:
    assert server.get(f"{server.url}/help", headers={"Accept-Language": "pl-PL"}).headers["location"] == "/help/pl"
    assert server.get(f"{server.url}/help", headers={"Accept-Language": "de-DE"}).headers["location"] == "/help/en"
    assert server.get(f"{server.url}/help", cookies={"visitt_lang": "so"}).headers["location"] == "/help/so"
    # the switcher's ?lang= leads to that language's own address, and is remembered
    moved = server.get(f"{server.url}/help/nb?lang=ur")
    assert moved.status_code == 303 and moved.headers["location"] == "/help/ur"
    assert moved.cookies.get("visitt_lang") == "ur"


@pytest.mark.parametrize("wrong", ["de", "xx", "NB", "a" * 300])
def test_a_language_without_a_help_page_gets_a_clear_404(server: LiveServer, wrong: str) -> None:
    page = server.get(f"{server.url}/help/{wrong}", headers={"Accept-Language": "en"})
    assert page.status_code == 404
    assert "There is no help page in this language" in page.text and 'href="/help"' in page.text


def test_every_patient_page_links_the_help_page(server: LiveServer) -> None:
    join_url, _ = book(server)
    pages = {"front page": "/?lang=ar", "code entry refused": None, "test room": "/test?lang=ar",
             "portal": "/portal?lang=ar", "lobby, waiting room, call and end": join_url + "?lang=ar",
             "unknown link": "/v/nonsense?lang=ar"}
    with httpx.Client(base_url=server.url) as http:
        for name, url in pages.items():
            if url is None:
                http.get("/?lang=ar")
                page = http.post("/", data={"code": "12", "csrf": http.cookies["visitt_csrf"]})
            else:
                page = http.get(url)
            assert re.search(r'<a class="help-link" href="/help/ar" hreflang="ar"[^>]*>مساعدة</a>', page.text), name
        assert 'class="help-link"' not in http.get("/staff/login").text  # staff pages have their own help


@pytest.mark.parametrize("language", ["nb", "ar", "so"])
def test_the_help_page_is_light(server: LiveServer, language: str) -> None:
    """The page and its stylesheet, compressed, are what a phone must fetch before it can read; the four
    screenshots come only as the reader scrolls to them (``loading="lazy"``), each under 25 KB."""
    wire = 0
    with httpx.Client(base_url=server.url, headers={"Accept-Encoding": "gzip"}) as http:
        for url in (f"/help/{language}", "/static/css/visitt.css"):
            with http.stream("GET", url) as response:
                assert response.status_code == 200 and response.headers.get("content-encoding") == "gzip", url
                wire += sum(len(chunk) for chunk in response.iter_raw())
    print(f"{language}: help page and stylesheet {wire} bytes on the wire")
    assert wire <= 20_000
