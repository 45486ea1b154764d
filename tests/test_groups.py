"""Booking a group consultation over the API (visitt/groups.py): up to VISITT_MAX_GROUP_PARTICIPANTS people
besides the clinician, other patients among them, each with their own SMS; not one more; other patients only in a
group; and with Janus down (or not configured), a clear 503 for the group while a one-to-one booking goes through.
A one-to-one consultation booked with more invited than the mesh carries: accepted while Janus answers (up to the
group's limit), its call moving to Janus as it grows; refused with a clear 503 (the form: in the staff's language)
while Janus is down, and with the mesh's 422 when no Janus is configured."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from visitt import accounts, demo, outcomes, rooms
from visitt.store.models import Appointment, AuditEvent, RoomState
from visitt.testing import InProcess, LiveServer

from .conftest import make_settings
from .janus import SECRET, JanusServer, free_port
from .peers import WsClient, run, staff_login

DOWN = "The media server for group calls cannot be reached"
PAST_MESH_DOWN = "The media server cannot be reached, and a consultation with this many participants needs it."
PAST_MESH_DOWN_NB = "Medieserveren svarer ikke, og en konsultasjon med så mange deltakere trenger den."


def _node(tmp_path: Path, janus_url: str, **overrides: object) -> InProcess:
    return InProcess(make_settings(tmp_path, janus_url=janus_url, janus_api_secret=SECRET, **overrides)).start()


def _booking(others: int, *, group: bool = True, kind: str = "patient") -> dict[str, Any]:
    """A booking with ``others`` invited besides the patient (``kind``: theirs)."""
    starts_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    return {"patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": starts_at.isoformat(),
            "duration_minutes": 90, "group": group,
            "participants": [{"name": f"Deltaker {n}", "kind": kind, "phone": f"412 35 {n:03d}"}
                             for n in range(others)]}


def _post(node: InProcess | LiveServer, path: str, body: dict[str, Any]) -> Any:
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
def test_the_booking_form_invites_another_patient_to_a_group_and_only_to_a_group(janus: JanusServer,
                                                                                 tmp_path: Path) -> None:
    node = _node(tmp_path, janus.url)
    try:
        client = node.client(follow_redirects=False, headers={"Accept-Language": "en", "Accept": "text/html"})
        with client:
            client.get("/staff/login")
            csrf = client.cookies["visitt_csrf"]
            client.post("/staff/login", data={"email": demo.PEOPLE[0][0], "password": demo.PASSWORD, "csrf": csrf})
            assert "Another patient (group consultation)" in client.get("/staff/book").text
            when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).date().isoformat()
            form = {"csrf": csrf, "patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "date": when,
                    "time": "10:00", "duration_minutes": "90", "language": "nb", "video_suitable_confirmed": "on",
                    "other_name": "Ola Nordmann", "other_kind": "patient", "other_phone": "412 35 001"}
            one_to_one = client.post("/staff/book", data=form)
            assert one_to_one.status_code == 422 and "Choose companion, interpreter or colleague." in one_to_one.text
            booked = client.post("/staff/book", data={**form, "group": "yes"})
            assert booked.status_code == 303, booked.text
        with node.database.session() as session:
            appointment = session.scalars(select(Appointment)).one()
            assert sorted(p.kind for p in appointment.room.participants) == ["patient", "patient"]
        assert len({sms["to"] for sms in node.sms(count=2)}) == 2  # each patient their own SMS
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


@pytest.mark.in_process
def test_the_host_records_an_outcome_and_a_copayment_for_each_patient_of_a_group(janus: JanusServer,
                                                                                   tmp_path: Path) -> None:
    node = _node(tmp_path, janus.url)
    try:
        booked = _post(node, "/appointments", _booking(2)).json()
        appointment_id = booked["id"]
        with node.database.session() as session:
            appointment = session.get(Appointment, appointment_id)
            assert appointment is not None and appointment.room is not None
            patients = [p.public_id for p in appointment.room.participants if p.kind == "patient"]
        assert len(patients) == 3  # the booked patient and the two others, each their own invitation
        path = f"/appointments/{appointment_id}/patients"

        def put(participant: str, body: dict[str, Any], token: str | None = None) -> Any:
            return node.request("PUT", f"{node.url}/api/v1{path}/{participant}/outcome", json=body,
                                headers={"Authorization": f"Bearer {token or node.token}"})

        never = put(patients[0], {"outcome": "completed"})  # no media yet: not completed by video
        assert never.status_code == 422 and set(never.json()["error"]["fields"]) == {"outcome"}
        # the call took place and ended (what the host's page reports, then End)
        with node.database.session() as session:
            appointment = session.get(Appointment, appointment_id)
            assert appointment is not None and appointment.room is not None
            rooms.move_room(session, appointment.room.id, RoomState.ended, actor="system", action="end")
            outcomes.mark_media_flowed(session, appointment.room.id)
        bad = put(patients[0], {"outcome": "cancelled", "exemption": "no_such", "note": "x" * 600})
        assert bad.status_code == 422
        assert set(bad.json()["error"]["fields"]) == {"outcome", "exemption", "note"}
        assert put("no-such-invitation", {"outcome": "completed"}).status_code == 404
        with node.database.session() as session:
            other = accounts.create_api_token(session, demo.PEOPLE[1][0])  # another clinician: not theirs
        assert put(patients[0], {"outcome": "completed"}, other).status_code == 404

        assert put(patients[0], {"outcome": "completed", "follow_up": True}).status_code == 200
        assert put(patients[1], {"outcome": "completed", "exemption": "frikort"}).status_code == 200
        shown = put(patients[2], {"outcome": "no_show"})
        assert shown.status_code == 200, shown.text
        by_id = {row["participant"]: row for row in shown.json()}
        first, second, third = (by_id[p] for p in patients)
        assert (first["outcome"], first["follow_up"], first["copayment_exempt"]) == ("completed", True, False)
        assert (second["outcome"], second["copayment_exempt"], second["copayment_reason"]) == (
            "completed", True, "frikort")
        assert (third["outcome"], third["copayment_nok"], third["copayment_reason"]) == ("no_show", "0.00", "no_show")
        # recorded again: the newest stands; the list says the same
        put(patients[2], {"outcome": "technical_failure", "failure_reason": "no_connection"})
        listed = node.get(f"{node.url}/api/v1{path}/outcomes", headers={"Authorization": f"Bearer {node.token}"})
        assert {row["participant"]: row["outcome"] for row in listed.json()} == {
            patients[0]: "completed", patients[1]: "completed", patients[2]: "technical_failure"}
        with node.database.session() as session:
            rows = [event.subject for event in session.scalars(
                select(AuditEvent).where(AuditEvent.action == "outcome").order_by(AuditEvent.id))]
        assert rows == [f"participant:{p}" for p in (*patients, patients[2])]

        # a one-to-one consultation has one outcome, the appointment's
        single = _post(node, "/appointments", _booking(0, group=False)).json()
        with node.database.session() as session:
            appointment = session.get(Appointment, single["id"])
            assert appointment is not None and appointment.room is not None
            patient = appointment.room.participants[0].public_id
        refused = node.request("PUT", f"{node.url}/api/v1/appointments/{single['id']}/patients/{patient}/outcome",
                               json={"outcome": "no_show"}, headers={"Authorization": f"Bearer {node.token}"})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_group"
    finally:
        node.stop()


@pytest.mark.in_process
def test_a_one_to_one_booking_past_the_mesh_is_accepted_while_janus_answers(janus: JanusServer,
                                                                              tmp_path: Path) -> None:
    node = _node(tmp_path, janus.url, max_participants=3, max_group_participants=4)
    try:
        booked = _post(node, "/appointments", _booking(3, group=False, kind="companion"))  # the mesh takes 1
        assert booked.status_code == 201, booked.text
        assert [p["kind"] for p in booked.json()["participants"]] == ["companion"] * 3
        assert len({sms["to"] for sms in node.sms(count=4)}) == 4  # each their own SMS
        with node.database.session() as session:
            appointment = session.get(Appointment, booked.json()["id"])
            assert appointment is not None and appointment.kind == "consultation"  # not a group: no first names only
        too_many = _post(node, "/appointments", _booking(4, group=False, kind="companion"))  # past the group's 4
        assert too_many.status_code == 422
        assert too_many.json()["error"]["fields"]["participants"] == "No more participants fit in this consultation."
        full = _post(node, f"/appointments/{booked.json()['id']}/participants",
                     {"name": "Deltaker 9", "kind": "companion", "phone": "412 35 999"})
        assert full.status_code == 409 and full.json()["error"]["code"] == "invites_full"
    finally:
        node.stop()


@pytest.mark.in_process
@pytest.mark.parametrize("configured", [True, False])
def test_a_one_to_one_booking_past_the_mesh_without_janus_is_refused_clearly(tmp_path: Path,
                                                                              configured: bool) -> None:
    """Janus configured but down: a 503 saying why (on the form, in the staff's language), and nothing booked.
    No Janus configured: the mesh's limit, as before. Within the mesh, the booking goes through either way."""
    node = _node(tmp_path, f"http://127.0.0.1:{free_port()}/janus" if configured else "", max_participants=2)
    try:
        refused = _post(node, "/appointments", _booking(1, group=False, kind="interpreter"))
        if configured:
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "media_server_unavailable"
            assert refused.json()["error"]["message"].startswith(PAST_MESH_DOWN)
        else:
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["fields"]["participants"] == \
                "No more participants fit in this consultation."
        client = node.client(follow_redirects=False, headers={"Accept-Language": "nb", "Accept": "text/html"})
        with client:
            client.get("/staff/login")
            csrf = client.cookies["visitt_csrf"]
            client.post("/staff/login", data={"email": demo.PEOPLE[0][0], "password": demo.PASSWORD, "csrf": csrf})
            when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).date().isoformat()
            form = {"csrf": csrf, "patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "date": when,
                    "time": "10:00", "duration_minutes": "30", "language": "nb", "video_suitable_confirmed": "on",
                    "other_name": "Amina Yusuf", "other_kind": "interpreter", "other_phone": "412 35 001"}
            page = client.post("/staff/book", data=form)
            if configured:
                assert page.status_code == 503 and PAST_MESH_DOWN_NB in page.text, page.text
                assert 'value="Amina Yusuf"' in page.text  # what was typed is kept
            else:
                assert page.status_code == 422
        assert node.sms(wait=0) == []  # nothing booked, nobody told
        with node.database.session() as session:
            assert session.scalars(select(Appointment)).all() == []
        assert _post(node, "/appointments", _booking(0, group=False)).status_code == 201
    finally:
        node.stop()


async def grows_as_booked(server: LiveServer, booked: dict[str, Any]) -> None:
    """The patient and then the interpreter booked with her knock and are let in: the first admission keeps
    the call on the mesh, the second passes it and moves the call to Janus (``sfu_move`` to both in the call
    before the interpreter's ``admitted``, which says ``media: "sfu"``)."""
    tokens = [booked["join_url"], *(p["join_url"] for p in booked["participants"])]
    async with await WsClient.staff(server, staff_login(server)) as host, \
            await WsClient.guest(server, tokens[0].rsplit("/v/", 1)[1]) as patient, \
            await WsClient.guest(server, tokens[1].rsplit("/v/", 1)[1]) as interpreter:
        for socket in (host, patient, interpreter):
            await socket.hello()
        entered = []
        for guest, name in ((patient, "Kari Nordmann"), (interpreter, "Amina Yusuf")):
            await guest.send({"type": "knock", "name": name})
            knock = await host.expect("knock")
            await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})
            entered.append(await guest.expect("admitted"))
        assert entered[0].get("media") != "sfu"  # two people: the mesh
        assert entered[1]["media"] == "sfu"  # the third passes the mesh of two
        for socket in (host, patient):
            assert (await socket.expect("sfu_move"))["max_video"] == 4


def test_a_one_to_one_consultation_booked_past_the_mesh_moves_to_janus_as_it_grows(janus: JanusServer,
                                                                                    tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET,
                                      max_participants=2)).start()
    try:
        booked = _post(server, "/appointments", _booking(2, group=False, kind="interpreter"))
        assert booked.status_code == 201, booked.text
        run(grows_as_booked(server, booked.json()))
    finally:
        server.stop()
