"""The patient lobby on a 360 × 640 phone in nynorsk, Polish, Arabic and Urdu, and the call in Arabic and Urdu.

Arabic and Urdu lay the page out right to left; every language's switcher opens on screen with all seven
languages. Each state is saved as a screenshot under ``test-artefacts/`` (kept out of git) for a person to look at.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from visitt.web import i18n
from visitt.testing import LiveServer

from .browser import call_between

pytestmark = pytest.mark.browser

ARTEFACTS = Path(__file__).resolve().parent.parent / "test-artefacts"
PHONE = {"viewport": {"width": 360, "height": 640}, "is_mobile": True, "has_touch": True}


def _join_url(server: LiveServer) -> str:
    starts_at = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).replace(microsecond=0)
    response = httpx.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                          json={"patient_name": "Kari Nordmann", "patient_phone": "412 34 567",
                                "starts_at": starts_at.isoformat(), "duration_minutes": 30})
    assert response.status_code == 201, response.text
    return str(response.json()["join_url"])


@pytest.mark.parametrize(("language", "direction", "join"), [
    ("nn", "ltr", "Bli med"), ("pl", "ltr", "Dołącz"), ("ar", "rtl", None), ("ur", "rtl", None)])
def test_the_lobby_on_a_phone(server: LiveServer, browser,  # type: ignore[no-untyped-def]
                              language: str, direction: str, join: str | None) -> None:
    ARTEFACTS.mkdir(exist_ok=True)
    context = browser.new_context(**PHONE, locale=language)
    page = context.new_page()
    try:
        page.goto(f"{_join_url(server)}?lang={language}")
        html = page.locator("html")
        expect(html).to_have_attribute("lang", language)
        expect(html).to_have_attribute("dir", direction)
        if join:
            expect(page.locator("#join")).to_have_text(join)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
        # Right to left: the brand sits at the right edge, the switcher at the left.
        brand, switcher = page.locator(".brand").bounding_box(), page.locator(".languages summary").bounding_box()
        assert brand and switcher
        assert (brand["x"] > switcher["x"]) == (direction == "rtl")
        page.screenshot(path=str(ARTEFACTS / f"lobby-{language}-360x640.png"))

        page.locator(".languages summary").click()
        links = page.locator(".languages a")
        expect(links).to_have_count(len(i18n.LANGUAGES))
        for index, name in enumerate(i18n.LANGUAGES.values()):
            expect(links.nth(index)).to_have_text(name)
            box = links.nth(index).bounding_box()
            assert box and 0 <= box["x"] and box["x"] + box["width"] <= 360 and box["height"] >= 44, (name, box)
        page.screenshot(path=str(ARTEFACTS / f"lobby-{language}-360x640-languages.png"))
        page.get_by_role("link", name="English").click()
        expect(html).to_have_attribute("lang", "en")
        expect(html).to_have_attribute("dir", "ltr")
    finally:
        context.close()


@pytest.mark.parametrize("language", ["ar", "ur"])
def test_the_call_right_to_left_on_a_phone(server: LiveServer, browser,  # type: ignore[no-untyped-def]
                                           language: str) -> None:
    """A phone set to Arabic or Urdu gets the call laid out right to left, media flowing; saved as a screenshot."""
    ARTEFACTS.mkdir(exist_ok=True)
    with call_between(server, browser, patient_locale=language, phone=PHONE) as (_host, patient):
        expect(patient.locator("html")).to_have_attribute("dir", "rtl")
        expect(patient.locator("#call")).to_be_visible()
        assert patient.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "scrolls sideways"
        # The self-view sits in the corner where the text starts: the left one, right to left.
        own = patient.locator("#tiles figure.self").bounding_box()
        assert own and own["x"] < 360 / 2, own
        patient.screenshot(path=str(ARTEFACTS / f"call-{language}-360x640.png"))
