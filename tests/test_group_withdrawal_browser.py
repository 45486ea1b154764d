"""A patient of a group consultation withdrawing, in Chromium (issue 20 §2): the clinician's page and two
patients' pages (Per's in Polish, on a phone) in a group call through Janus. The clinician records on the
appointment page that Per phoned, choosing him in "Which patient": Per's page says, in Polish, that video has
ended and the clinic will contact him another way, and leaves the call; the clinician's call page says he
withdrew; Kari's page goes on decoding the clinician's picture, without Per's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from visitt.testing import LiveServer
from visitt.web.i18n import translations

from .browser import DESK, INBOUND, PHONE, knock_and_admit, sign_in, wait_for_media
from .conftest import make_settings
from .eventually import eventually
from .janus import SECRET, JanusServer
from .test_group_withdrawal import OTHERS, book

pytestmark = pytest.mark.browser
ARTEFACTS = Path(__file__).resolve().parent.parent / "test-artefacts"
WITHDRAWN = "Video has ended. The clinic will contact you another way. This does not affect your treatment."


def test_a_patient_withdrawn_by_phone_leaves_the_group_call_in_their_language(browser: Browser, janus: JanusServer,
                                                                             tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET)).start()
    contexts = [browser.new_context(**DESK), browser.new_context(**PHONE),
                browser.new_context(**{**PHONE, "locale": "pl-PL"})]
    try:
        appointment_id, (kari_token, per_token) = book(server, OTHERS[:1], starts_in=dt.timedelta(hours=1))
        host = contexts[0].new_page()
        sign_in(host, server.url)
        kari = knock_and_admit(host, contexts[1].new_page(), f"{server.url}/v/{kari_token}", "Kari Nordmann")
        per = knock_and_admit(host, contexts[2].new_page(), f"{server.url}/v/{per_token}", "Per Hansen")
        for page in (host, kari, per):
            eventually(lambda page=page: page.evaluate(INBOUND)["peers"] == 2, f"{page.url} receives both others",
                       timeout=60)
            wait_for_media(page, timeout=60)

        office = contexts[0].new_page()  # the secretary's tab: Per phoned
        office.goto(f"{server.url}/staff/appointments/{appointment_id}")
        office.get_by_label("Which patient").select_option(label="Per Hansen")
        office.get_by_role("button", name="Record withdrawal from video").click()
        expect(office.get_by_role("status")).to_have_text(
            "The withdrawal is recorded. Video has ended for Per Hansen; the others in the group go on.")

        expect(per.locator("#done-text")).to_have_text(translations("pl").gettext(WITHDRAWN), timeout=30000)
        assert per.evaluate("() => window.visittCall.sending === null"), "Per's page still sends to Janus"
        expect(host.locator("#call-status")).to_contain_text("Per does not want video and has withdrawn.")
        for page in (host, kari):  # the others go on, without Per
            eventually(lambda page=page: page.evaluate(INBOUND)["peers"] == 1, f"{page.url} lets Per go", timeout=30)
        before = kari.evaluate(INBOUND)["video"]
        eventually(lambda: kari.evaluate(INBOUND)["video"] > before + 10, "Kari still decodes the clinician",
                   timeout=60)
        ARTEFACTS.mkdir(exist_ok=True)
        per.screenshot(path=str(ARTEFACTS / "group-withdrawn-pl-phone.png"))
        office.screenshot(path=str(ARTEFACTS / "group-withdrawal-recorded-1280.png"), full_page=True)
    finally:
        for context in contexts:
            context.close()
        server.stop()
