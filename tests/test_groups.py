"""Booking a group consultation over the API (visitt/groups.py): up to VISITT_MAX_GROUP_PARTICIPANTS people
besides the clinician, other patients among them, each with their own SMS; not one more; other patients only in a
group; and with Janus down (or not configured), a clear 503 for the group while a one-to-one booking goes through."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from visitt.testing import InProcess

from .conftest import make_settings
from .janus import SECRET, JanusServer, free_port

DOWN = "The media server for group calls cannot be reached"


def _node(tmp_path: Path, janus_url: str, **overrides: object) -> InProcess:
    return InProcess(make_settings(tmp_path, janus_url=janus_url, janus_api_secret=SECRET, **overrides)).start()


def _booking(others: int, *, group: bool = True, kind: str = "patient") -> dict[str, Any]:
    starts_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    return {"patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": starts_at.isoformat(),
            "duration_minutes": 90, "group": group,
            "participants": [{"name": f"Deltaker {n}", "kind": kind, "phone": f"412 35 {n:03d}"}
                             for n in range(others)]}


def _post(node: InProcess, path: str, body: dict[str, Any]) -> Any:
    return node.post(f"{node.url}/api/v1{path}", json=body, headers={"Authorization": f"Bearer {node.token}"})


@pytest.mark.in_process
def test_a_group_takes_its_limit_each_with_their_own_sms_and_not_one_more(janus: JanusServer, tmp_path: Path) -> None:
    node = _node(tmp_path, janus.url, max_group_participants=4)
    try:
        too_many = _post(node, "/appointments", _booking(4))
        assert too_many.status_code == 422
        assert too_many.json()["error"]["fields"]["participants"] == "No more participants fit in this consultation."

        booked = _post(node, "/appointments", _booking(3))
        assert booked.status_code == 201, booked.text
        invited = booked.json()["participants"]
        assert [p["kind"] for p in invited] == ["patient"] * 3
        assert len({p["code"] for p in invited} | {booked.json()["code"]}) == 4  # a code each
        texts = node.sms(count=4)
        assert len(texts) == 4 and len({sms["to"] for sms in texts}) == 4
        assert sum("invitert til en gruppekonsultasjon" in sms["body"] for sms in texts) == 3  # in the booking's nb
        full = _post(node, f"/appointments/{booked.json()['id']}/participants",
                     {"name": "Deltaker 9", "kind": "patient", "phone": "412 35 999"})
        assert full.status_code == 409 and full.json()["error"]["code"] == "invites_full"
    finally:
        node.stop()


@pytest.mark.in_process
def test_other_patients_only_in_a_group(janus: JanusServer, tmp_path: Path) -> None:
    node = _node(tmp_path, janus.url)
    try:
        refused = _post(node, "/appointments", _booking(1, group=False))
        assert refused.status_code == 422
        assert refused.json()["error"]["fields"]["participants.0.kind"] == "Choose companion, interpreter or colleague."
        ordinary = _post(node, "/appointments", _booking(0, group=False))
        extra = _post(node, f"/appointments/{ordinary.json()['id']}/participants",
                      {"name": "Deltaker 1", "kind": "patient", "phone": "412 35 001"})
        assert extra.status_code == 422
    finally:
        node.stop()


@pytest.mark.in_process
@pytest.mark.parametrize("configured", [True, False])
def test_janus_down_refuses_a_group_booking_and_a_one_to_one_booking_goes_through(tmp_path: Path,
                                                                                   configured: bool) -> None:
    node = _node(tmp_path, f"http://127.0.0.1:{free_port()}/janus" if configured else "")
    try:
        refused = _post(node, "/appointments", _booking(2))
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "media_server_unavailable"
        assert refused.json()["error"]["message"].startswith(DOWN)
        assert node.sms(wait=0) == []  # nothing booked, nobody told
        assert _post(node, "/appointments", _booking(0, group=False)).status_code == 201
    finally:
        node.stop()
