"""Each patient's outcome in a group consultation, on the appointment page in Chromium (issue 20 §2): after the
group's call, the clinician records a different outcome, co-payment exemption and follow-up for each patient
on that patient's own form, and each patient's journal note says that patient's outcome."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from visitt import outcomes, rooms
from visitt.store.models import Appointment, RoomState
from visitt.testing import LiveServer

from .browser import DESK, sign_in
from .conftest import make_settings
from .janus import SECRET, JanusServer

pytestmark = pytest.mark.browser
ARTEFACTS = Path(__file__).resolve().parent.parent / "test-artefacts"


def test_the_clinician_records_each_patients_outcome_on_the_appointment_page(browser: Browser, janus: JanusServer,
                                                                            tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET)).start()
    clinic = browser.new_context(**DESK)
    try:
        starts_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
        booked = server.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                             json={"patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "group": True,
                                   "starts_at": starts_at.isoformat(), "duration_minutes": 90,
                                   "participants": [{"name": "Per Hansen", "kind": "patient", "phone": "412 35 001"},
                                                    {"name": "Aisha Ali", "kind": "patient", "phone": "412 35 002"}]})
        assert booked.status_code == 201, booked.text
        with server.database.session() as session:  # the group's call took place and ended
            appointment = session.get(Appointment, booked.json()["id"])
            assert appointment is not None and appointment.room is not None
            rooms.move_room(session, appointment.room.id, RoomState.ended, actor="system", action="end")
            outcomes.mark_media_flowed(session, appointment.room.id)
            ids = {p.display_name or "Kari Nordmann": p.public_id for p in appointment.room.participants}

        host = clinic.new_page()
        sign_in(host, server.url)
        host.goto(f"{server.url}/staff/appointments/{booked.json()['id']}")
        expect(host.get_by_role("heading", name="Each patient in the group")).to_be_visible()
        choices = {"Kari Nordmann": ("completed", "", "yes"), "Per Hansen": ("completed", "frikort", "no"),
                   "Aisha Ali": ("no_show", "", "")}
        for name, (outcome, exemption, follow_up) in choices.items():
            form = host.locator(f"#patient-{ids[name]}")
            expect(form.get_by_role("heading", name=name)).to_be_visible()
            form.get_by_label("What happened").select_option(outcome)
            form.get_by_label("Co-payment exemption").select_option(exemption)
            if follow_up:
                form.get_by_label("Yes" if follow_up == "yes" else "No", exact=True).check()
            form.get_by_role("button", name="Record outcome").click()
            expect(host.locator(f"#patient-{ids[name]}").get_by_role("status")).to_have_text(
                "The outcome is recorded.")

        kari, per, aisha = (host.locator(f"#patient-{ids[name]}") for name in choices)
        expect(kari.locator(".outcome")).to_have_text("Completed")
        expect(kari.locator(".copayment")).not_to_contain_text("none")  # she pays (at the day's rate)
        expect(per.locator(".copayment")).to_contain_text("none (exempt: Exemption card (frikort))")
        expect(aisha.locator(".outcome")).to_have_text("No-show")
        expect(aisha.locator(".copayment")).to_contain_text("none")
        expect(kari.locator("textarea")).to_contain_text("Outcome: Completed.")
        expect(kari.locator("textarea")).to_contain_text("Follow-up: agreed.")
        expect(per.locator("textarea")).to_contain_text("Follow-up: none agreed.")
        expect(aisha.locator("textarea")).to_contain_text("Outcome: No-show.")
        ARTEFACTS.mkdir(exist_ok=True)
        host.screenshot(path=str(ARTEFACTS / "group-outcomes-1280x800.png"), full_page=True)
    finally:
        clinic.close()
        server.stop()
