"""The department queue: clinicians and secretaries see everyone waiting for any clinician of their own
department - booked patients and portal visitors - and nobody from another department. It is read from
the database, so what it shows does not depend on which node holds a room."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from visitt import accounts, demo, portal, rooms
from visitt.live import department_queue
from visitt.store.db import Database, GroupCommit
from visitt.limiter import Limiter
from visitt.store.models import Department, Participant, ParticipantState, Role, Room, Staff, utcnow
from visitt.settings import Settings
from visitt.testing import InProcess, LiveServer

from .peers import WsClient, run, staff_login

INGRID, OLA, SARA = (email for email, _role, _name in demo.PEOPLE)
PER = "per.hud@example.no"


def book_for(server: LiveServer, token: str, name: str, clinician_id: int | None = None) -> str:
    """Book over the API with ``token``; returns the invitation token from the join URL."""
    starts_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
    body: dict[str, Any] = {"patient_name": name, "patient_phone": "412 34 567", "starts_at": starts_at.isoformat(),
                            "duration_minutes": 30, "clinician_id": clinician_id}
    response = server.post(f"{server.url}/api/v1/appointments", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    return str(response.json()["join_url"]).rsplit("/v/", 1)[1]


def portal_visit(server: LiveServer, name: str) -> str:
    with server.database.session() as session:
        ingrid = session.scalar(select(Staff).where(Staff.email == INGRID))
        assert ingrid is not None
        door = f"/portal/{ingrid.department_id}/{ingrid.id}"
    with server.client() as client:
        client.get(door)
        response = client.post(door, data={"name": name, "csrf": client.cookies["visitt_csrf"]})
        assert response.status_code == 303, response.text
        return response.headers["location"].rsplit("/v/", 1)[1]


def queue(server: LiveServer | InProcess, cookie: str) -> list[dict[str, Any]]:
    response = server.get(f"{server.url}/staff/queue/waiting", cookies={"visitt_session": cookie},
                          headers={"Accept": "application/json"})
    assert response.status_code == 200, response.text
    return list(response.json()["waiting"])


def test_staff_see_who_waits_in_their_own_department(pg_server: LiveServer) -> None:
    server = pg_server
    with server.database.session() as session:
        ola = session.scalar(select(Staff.id).where(Staff.email == OLA))
        accounts.create_staff(session, email=PER, full_name="Per Hud", role=Role.clinician, password=demo.PASSWORD,
                              department=Department(name="Hudavdelingen"))
        secretary_token = accounts.create_api_token(session, SARA)
        per_token = accounts.create_api_token(session, PER)
    for_ola = book_for(server, secretary_token, "Kari Nordmann", clinician_id=ola)
    for_per = book_for(server, per_token, "Lise Berg")
    visitor = portal_visit(server, "Nils Visitor")
    cookies = {email: staff_login(server, email) for email in (INGRID, SARA, PER)}

    async def scenario() -> None:
        async with await WsClient.guest(server, for_ola) as kari, await WsClient.guest(server, for_per) as lise, \
                await WsClient.guest(server, visitor) as nils:
            for guest, name in ((kari, "Kari Nordmann"), (lise, "Lise Berg"), (nils, "Nils Visitor")):
                await guest.hello()
                await guest.send({"type": "knock", "name": name})
                await guest.expect("waiting")

            secretary = await asyncio.to_thread(queue, server, cookies[SARA])
            assert [(entry["name"], entry["clinician"], entry["scheduled"], entry["yours"]) for entry in secretary] == [
                ("Kari Nordmann", "Ola Hansen", True, False), ("Nils Visitor", "Dr. Ingrid Berg", False, False)]
            assert secretary[0]["starts_at"] and secretary[1]["starts_at"] is None
            assert dt.datetime.fromisoformat(secretary[0]["since"]) <= dt.datetime.fromisoformat(secretary[1]["since"])

            clinician = await asyncio.to_thread(queue, server, cookies[INGRID])
            assert [(entry["name"], entry["yours"]) for entry in clinician] == [
                ("Kari Nordmann", False), ("Nils Visitor", True)]
            other = await asyncio.to_thread(queue, server, cookies[PER])
            assert [entry["name"] for entry in other] == ["Lise Berg"]

            page = await asyncio.to_thread(httpx.get, f"{server.url}/staff/queue",
                                           cookies={"visitt_session": cookies[SARA]},
                                           headers={"Accept-Language": "en"})
            assert page.status_code == 200
            assert "Kari Nordmann" in page.text and "Ola Hansen" in page.text and "Lise Berg" not in page.text
            assert "Unscheduled visitor" in page.text
            # a secretary cannot admit: no admit button, and the dashboard link only in the script's row template
            assert 'class="admit' not in page.text and page.text.count("Admit on the dashboard") == 1
            assert 'href="/staff/queue"' in page.text

            await kari.send({"type": "leave"})
            await kari.expect("bye")
            after = await asyncio.to_thread(queue, server, cookies[SARA])
            assert [entry["name"] for entry in after] == ["Nils Visitor"]

    run(scenario())


@pytest.mark.in_process
def test_the_queue_needs_a_sign_in(server: InProcess) -> None:
    response = server.get(f"{server.url}/staff/queue/waiting", headers={"Accept": "application/json"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
    page = server.get(f"{server.url}/staff/queue")
    assert page.status_code == 303 and page.headers["location"] == "/staff/login"


def test_a_waiting_row_left_by_a_stopped_node_drops_out(database: Database) -> None:
    """A node that stops leaves ``waiting`` rows behind; past the longest wait they are nobody waiting."""
    with database.session() as session:
        demo.seed(session)
        ingrid = session.scalar(select(Staff).where(Staff.email == INGRID))
        assert ingrid is not None and ingrid.department_id is not None
        visitor, _token = portal.open_visit(session, ingrid, "Nils Visitor", "192.0.2.1", Settings(),
                                            Limiter(Settings()))
        visitor.state = ParticipantState.waiting
        department = ingrid.department_id
    max_wait = dt.timedelta(minutes=15)
    with database.session() as session:
        assert [entry.name for entry in department_queue.waiting_in(session, department, max_wait=max_wait)] == [
            "Nils Visitor"]
        later = dt.datetime.now(dt.UTC) + max_wait + department_queue.STALE_MARGIN + dt.timedelta(seconds=5)
        assert department_queue.waiting_in(session, department, max_wait=max_wait, now=later) == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # the many-rows update is PostgreSQL's
def test_patients_who_knock_at_the_same_moment_are_all_in_the_queue(database: Database) -> None:
    """Invited yesterday, two patients knock together: their moves are written in one transaction
    (one statement on PostgreSQL), and both are in the queue, as waiting since now - not dropped as
    rows left behind by a stopped node because the batched update kept the invitation's time."""
    yesterday = utcnow() - dt.timedelta(days=1)
    with database.session() as session:
        department = Department(name="Poliklinikk")
        clinician = accounts.create_staff(session, email="lege@example.no", full_name="Lege Legesen",
                                          role=Role.clinician, password=demo.PASSWORD, department=department)
        room = Room(public_id="room-1", host_id=clinician.id)
        patients = [Participant(public_id=f"p-{n}", room=room, token_hash=f"{n}" * 64, code="123456",
                                phone="+4741234567", updated_at=yesterday) for n in (1, 2)]
        session.add_all(patients)
        session.flush()
        ids, department_id = [patient.id for patient in patients], department.id

    async def knock_together() -> None:
        async with GroupCommit(database, rooms.lock_participants) as writes:
            await asyncio.gather(*(writes.run(rooms.knock_participant, participant_id, name, locks=participant_id)
                                   for participant_id, name in zip(ids, ("Kari Nordmann", "Ola Nordmann"))))

    before = utcnow()
    asyncio.run(knock_together())
    with database.session() as session:
        waiting = department_queue.waiting_in(session, department_id, max_wait=dt.timedelta(minutes=15))
    assert sorted(entry.name for entry in waiting) == ["Kari Nordmann", "Ola Nordmann"]
    assert all(entry.since >= before for entry in waiting)
