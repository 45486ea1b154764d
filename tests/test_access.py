"""Who may manage which appointment, room and invitation (visitt/access.py), checked from outside: every
staff page, API route and staff socket that names an object, walked as staff who may not manage it."""

from __future__ import annotations

import datetime as dt
from contextlib import closing
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from websockets.exceptions import InvalidStatus

from visitt import accounts, demo, training
from visitt.store.models import ApiToken, AuditEvent, Department, OutboxMessage, Participant, Role, Room, Staff
from visitt.testing import InProcess, LiveServer

from .peers import WsClient, run

PATIENT, PATIENT_PHONE = "Kari Hemmelig-Nordmann", "412 34 567"
MEETING = "Hemmelig fagmøte"  # a staff meeting's title: for its host and invited colleagues only
COLLEAGUE = "kollega@demo.visitt.no"  # a clinician of the same department, invited as co-host
OTHER_SECRETARY, OTHER_CLINICIAN = "sekretaer@kirurgi.example", "lege@kirurgi.example"
# who may not manage the first demo clinician's appointment: a clinician of the same department who does
# not own it, and a secretary and a clinician of another department
STRANGERS = (demo.PEOPLE[1][0], OTHER_SECRETARY, OTHER_CLINICIAN)
# routes that name no object and need no access rule: the sign-in and sign-out forms, the second-factor step
# (for a password just accepted) and the set-password page (its one-time link is the credential)
UNGUARDED = {"/staff/login", "/staff/logout", "/staff/login/code", "/staff/reset/{token}"}


def _future(days: int = 3) -> dt.datetime:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).replace(microsecond=0, second=0)


def _setup(server: LiveServer | InProcess) -> dict[str, Any]:
    """Another department with its staff, a colleague to invite, and the first clinician's appointment with
    its patient and a co-host invitation."""
    with server.database.session() as session:
        surgery = Department(name="Kirurgisk poliklinikk", phone="+47 22 00 00 00")
        session.add(surgery)
        home = session.scalar(select(Department).where(Department.name == demo.DEPARTMENT[0]))
        for email, role, department in ((OTHER_SECRETARY, Role.secretary, surgery),
                                        (OTHER_CLINICIAN, Role.clinician, surgery),
                                        (COLLEAGUE, Role.clinician, home)):
            made = accounts.create_staff(session, email=email, full_name=email.split("@")[0].title(), role=role,
                                         password=demo.PASSWORD, department=department)
            if email == COLLEAGUE:  # the training gate: only a trained clinician is made co-host
                training.record_training(session, made, by=None)
        tokens = {email: accounts.create_api_token(session, email) for email in STRANGERS}
        colleague_id = session.scalar(select(Staff.id).where(Staff.email == COLLEAGUE))
    owner = {"Authorization": f"Bearer {server.token}"}
    booked = server.post(f"{server.url}/api/v1/appointments", headers=owner, json={
        "patient_name": PATIENT, "patient_phone": PATIENT_PHONE, "starts_at": _future().isoformat()})
    assert booked.status_code == 201, booked.text
    cohost = server.post(f"{server.url}/api/v1/appointments/{booked.json()['id']}/participants", headers=owner,
                         json={"name": "Kollega", "kind": "colleague", "phone": "412 34 568", "staff_id": colleague_id})
    assert cohost.status_code == 201, cohost.text
    with server.database.session() as session:
        room = session.scalar(select(Room).where(Room.appointment_id == booked.json()["id"]))
        assert room is not None
        room_id = room.public_id
        owner_id = session.scalar(select(Staff.id).where(Staff.email == demo.PEOPLE[0][0]))
    return {"appointment": booked.json(), "cohost": cohost.json(), "room": room_id, "tokens": tokens,
            "owner_id": owner_id}


def _snapshot(server: LiveServer | InProcess, appointment_id: int) -> dict[str, Any]:
    """Everything about the appointment that a change would show in."""
    with server.database.session() as session:
        room = session.scalar(select(Room).where(Room.appointment_id == appointment_id))
        assert room is not None and room.appointment is not None
        appointment = room.appointment
        return {
            "appointment": (appointment.state, appointment.starts_at, appointment.duration_minutes,
                            appointment.patient_name, appointment.patient_phone),
            "room": (room.state, room.paused_at),
            "participants": [(p.public_id, p.state, p.display_name, p.phone) for p in session.scalars(
                select(Participant).where(Participant.room_id == room.id).order_by(Participant.id))],
            "outbox": session.scalar(select(func.count(OutboxMessage.id))
                                     .where(OutboxMessage.appointment_id == appointment_id)),
            "audit": session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.room_id == room.id)),
        }


def _signed_in(server: LiveServer | InProcess, email: str) -> tuple[httpx.Client, str]:
    client = server.client(follow_redirects=False,
                           headers={"Accept": "application/json", "Accept-Language": "en"})
    client.get("/staff/login")
    csrf = client.cookies["visitt_csrf"]
    response = client.post("/staff/login", data={"email": email, "password": demo.PASSWORD, "csrf": csrf})
    assert response.status_code == 303, response.text
    return client, csrf


def _all_routes(routes: list[Any]) -> list[APIRoute]:
    """The app's route table, flattened: FastAPI keeps each ``include_router`` as one entry holding the
    included router (its own routes are there in full, the prefix included when it is the router's own)."""
    flat = []
    for route in routes:
        if isinstance(route, APIRoute):
            flat.append(route)
        elif getattr(route, "original_router", None) is not None:
            flat += _all_routes(route.original_router.routes)
    return flat


def _staff_routes(server: LiveServer | InProcess) -> list[APIRoute]:
    """Every staff page and staff API route, from the app's own route table."""
    routes = [route for route in _all_routes(server.app.routes)
              if route.path.startswith(("/staff", "/api/v1/")) and not route.path.startswith("/api/v1/test-room")
              and route.path not in UNGUARDED]
    assert len(routes) >= 15  # the table was read, not an empty list
    return routes


def _admin_objects(server: LiveServer | InProcess) -> dict[str, str]:
    """What the admin console's routes name: the first demo clinician's account, department and API token,
    an operation on an account, and a one-time link's token that was never given."""
    with server.database.session() as session:
        owner = session.scalar(select(Staff).where(Staff.email == demo.PEOPLE[0][0]))
        assert owner is not None and owner.department_id is not None
        token = session.scalar(select(ApiToken.id).where(ApiToken.staff_id == owner.id))
        return {"staff_id": str(owner.id), "department_id": str(owner.department_id), "token_id": str(token),
                "operation": "deactivate", "token": accounts.new_secret()}


def test_every_staff_route_refuses_an_object_the_caller_may_not_manage(server: LiveServer) -> None:
    found = _setup(server)
    appointment, cohost = found["appointment"], found["cohost"]
    # what a route may name, by its parameter's name; a new kind of object needs its line here
    meeting = server.post(f"{server.url}/api/v1/meetings", headers={"Authorization": f"Bearer {server.token}"},
                          json={"title": MEETING, "guests": [{"name": "Dr. Gjest", "phone": "412 34 570"}]})
    assert meeting.status_code == 201, meeting.text
    objects = {"appointment_id": str(appointment["id"]), "room_id": found["room"], "participant_id": cohost["id"],
               "booked": str(appointment["id"]), "meeting_id": str(meeting.json()["id"]), **_admin_objects(server)}
    secrets = [PATIENT, appointment["code"], cohost["code"], appointment["join_url"].rsplit("/", 1)[1], "41234567",
               MEETING, meeting.json()["invitations"][0]["code"]]
    before = _snapshot(server, appointment["id"])

    # the owner sees it: the requests below are well formed, and what they must not show is there to find
    owner, _csrf = _signed_in(server, demo.PEOPLE[0][0])
    with closing(owner):
        page = owner.get("/staff", params={"booked": appointment["id"]}, headers={"Accept": "text/html"})
        assert page.status_code == 200 and appointment["code"] in page.text

    walked = set()
    for email in STRANGERS:
        client, csrf = _signed_in(server, email)
        api = {"Authorization": f"Bearer {found['tokens'][email]}"}
        with closing(client):
            for route in _staff_routes(server):
                named = [param.name for param in route.dependant.path_params]
                named += [param.name for param in route.dependant.query_params if param.name in objects]
                unknown = [name for name in named if name not in objects]
                assert not unknown, f"{route.path} names {unknown}: add them to the walk"
                path = route.path
                for name in named:
                    path = path.replace("{" + name + "}", objects[name])
                # ?booked= goes to every route: one that reads it without declaring it must not show it either
                query = {"booked": objects["booked"]}
                for method in sorted(route.methods - {"HEAD"}):
                    walked.add((method, route.path))
                    when = _future(5)
                    if path.startswith("/api/"):
                        response = client.request(method, path, params=query, headers=api, json={
                            "starts_at": when.isoformat(), "name": "Ivar Inntrenger", "kind": "companion",
                            "phone": "412 34 569"})
                    else:
                        data = {"csrf": csrf, "date": when.date().isoformat(), "time": "10:00",
                                "duration_minutes": "30", "name": "Ivar Inntrenger", "kind": "companion",
                                "phone": "412 34 569"} if method == "POST" else None
                        response = client.request(method, path, params=query, data=data)
                    where = f"{email}: {method} {path} {query}"
                    if named:
                        assert response.status_code in (403, 404), f"{where} answered {response.status_code}"
                        error = response.json()["error"]
                        assert error["code"] in ("forbidden", "not_found") and error["message"], where
                    for secret in secrets:
                        assert secret not in response.text, f"{where} showed {secret!r}"

            async def cohost_socket() -> None:  # the one staff socket that names an object
                with pytest.raises(InvalidStatus) as refusal:
                    await WsClient.open(server, f"/ws/cohost/{cohost['id']}", cookie=client.cookies["visitt_session"],
                                        origin=server.url)
                assert refusal.value.response.status_code == 403

            run(cohost_socket())
    assert ("GET", "/staff") in walked and ("PATCH", "/api/v1/appointments/{appointment_id}") in walked
    assert _snapshot(server, appointment["id"]) == before


@pytest.mark.in_process
def test_a_secretary_of_the_department_manages_it(server: InProcess) -> None:
    """The rule's other side: the department's secretary sees the booking and may move it."""
    found = _setup(server)
    appointment = found["appointment"]
    client, csrf = _signed_in(server, demo.PEOPLE[2][0])
    with closing(client):
        page = client.get("/staff", params={"booked": appointment["id"]}, headers={"Accept": "text/html"})
        assert page.status_code == 200 and appointment["code"] in page.text
        assert client.get(f"/staff/appointments/{appointment['id']}").status_code == 200
        when = _future(6)
        moved = client.post(f"/staff/appointments/{appointment['id']}/move",
                            data={"csrf": csrf, "date": when.date().isoformat(), "time": "11:00",
                                  "duration_minutes": "45"})
        assert moved.status_code == 303, moved.text
    assert _snapshot(server, appointment["id"])["appointment"][2] == 45


HOSTILE_IDS = ("9223372036854775808", "99999999999999999999999", "2147483648", "0", "-1", "1e3", "²", "0x10")


@pytest.mark.in_process
def test_hostile_ids_get_a_4xx_in_the_error_shape(pg_server: InProcess) -> None:
    """Every route with an id, on SQLite and PostgreSQL: a number no row can have, or no number, is refused."""
    server = pg_server
    found = _setup(server)
    client, csrf = _signed_in(server, demo.PEOPLE[0][0])
    owner = {"Authorization": f"Bearer {server.token}"}
    with closing(client):
        for value in HOSTILE_IDS:
            requests: list[tuple[str, str, dict[str, Any]]] = [
                ("GET", "/staff", {"params": {"booked": value}}),
                ("GET", f"/staff/appointments/{value}", {}),
                ("POST", f"/staff/appointments/{value}/move", {"data": {"csrf": csrf, "date": "2030-01-01",
                                                                       "time": "10:00"}}),
                ("POST", f"/staff/appointments/{value}/cancel", {"data": {"csrf": csrf}}),
                ("POST", f"/staff/appointments/{value}/no-show", {"data": {"csrf": csrf}}),
                ("PATCH", f"/api/v1/appointments/{value}", {"headers": owner, "json": {"starts_at": "2030-01-01T10:00"}}),
                ("POST", f"/api/v1/appointments/{value}/cancel", {"headers": owner}),
                ("POST", f"/api/v1/appointments/{value}/participants",
                 {"headers": owner, "json": {"name": "Ivar", "kind": "companion", "phone": "41234569"}}),
                # ids inside a body: the clinician booked for, the colleague invited
                ("POST", "/api/v1/appointments", {"headers": owner, "json": {
                    "patient_name": "Kari", "patient_phone": "41234567", "starts_at": _future().isoformat(),
                    "clinician_id": value}}),
                ("POST", f"/api/v1/appointments/{found['appointment']['id']}/participants", {"headers": owner, "json": {
                    "name": "Kollega", "kind": "colleague", "phone": "41234569", "staff_id": value}}),
                ("POST", "/staff/book", {"headers": {"Accept": "text/html"}, "data": {
                    "csrf": csrf, "patient_name": "Kari", "patient_phone": "41234567", "date": "2030-01-01",
                    "time": "10:00", "duration_minutes": "30", "clinician_id": value}}),
                ("POST", f"/staff/rooms/{found['room']}/participants", {"data": {
                    "csrf": csrf, "name": "Kollega", "kind": "colleague", "phone": "41234569", "staff_id": value}}),
                ("GET", f"/portal/{value}", {"headers": {"Accept": "text/html"}}),
                ("GET", f"/portal/1/{value}", {"headers": {"Accept": "text/html"}}),
            ]
            for method, path, options in requests:
                response = client.request(method, path, **options)
                assert 400 <= response.status_code < 500, f"{method} {path}: {response.status_code} {response.text[:300]}"
                if response.headers["content-type"].startswith("application/json"):
                    assert response.json()["error"]["code"], f"{method} {path}"
                else:
                    assert "internal" not in response.text.lower()


@pytest.mark.in_process
@pytest.mark.parametrize("starts_at", ["9999-12-31T23:59", "9999-12-31T23:59-14:00", "9999-12-31T23:59:59+00:00",
                                       "0001-01-01T00:00", "0001-01-01T00:30+14:00", "2040-01-01T10:00+23:59",
                                       "2030-01-01T10:00+24:00", "10000-01-01T00:00", "2030-02-30T10:00"])
def test_hostile_dates_get_a_4xx(pg_server: InProcess, starts_at: str) -> None:
    server = pg_server
    owner = {"Authorization": f"Bearer {server.token}"}
    booked = server.post(f"{server.url}/api/v1/appointments", headers=owner, json={
        "patient_name": "Kari Nordmann", "patient_phone": "41234567", "starts_at": starts_at})
    assert booked.status_code == 422 and "starts_at" in booked.json()["error"]["fields"], booked.text
    valid = server.post(f"{server.url}/api/v1/appointments", headers=owner, json={
        "patient_name": "Kari Nordmann", "patient_phone": "41234567", "starts_at": _future().isoformat()})
    moved = server.patch(f"{server.url}/api/v1/appointments/{valid.json()['id']}", headers=owner,
                         json={"starts_at": starts_at})
    assert moved.status_code == 422 and "starts_at" in moved.json()["error"]["fields"], moved.text
    client, csrf = _signed_in(server, demo.PEOPLE[0][0])
    date, _, time = starts_at.partition("T")
    with closing(client):
        page = client.post("/staff/book", headers={"Accept": "text/html"}, data={
            "csrf": csrf, "patient_name": "Kari", "patient_phone": "41234567", "date": date, "time": time,
            "duration_minutes": "30"})
        assert page.status_code == 422 and 'aria-invalid="true"' in page.text
