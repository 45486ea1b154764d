"""The training gate (visitt/training.py): the course's steps, what an untrained clinician may not do,
the warning to whoever books for one, training recorded by an administrator or on the command line,
and what the upgrade does to existing staff. The whole course in a browser: test_training_browser.py."""

from __future__ import annotations

import datetime as dt
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, select, text
from websockets.exceptions import InvalidStatus

from visitt import accounts, cli, demo, training
from visitt.errors import Forbidden
from visitt.store import audit
from visitt.store.db import MIGRATIONS
from visitt.store.models import Department, Role, Staff
from visitt.testing import InProcess, LiveServer

from .peers import WsClient, run

NEW = "ny.lege@demo.visitt.no"
RIGHT = {"q0": "1", "q1": "1", "q2": "0", "q3": "1", "q4": "2"}


def _new_clinician(server: InProcess | LiveServer, email: str = NEW) -> int:
    with server.database.session() as session:
        department = session.scalar(select(Department).where(Department.name == demo.DEPARTMENT[0]))
        return accounts.create_staff(session, email=email, full_name="Nina Ny", role=Role.clinician,
                                     password=demo.PASSWORD, department=department).id


def _signed_in(server: InProcess | LiveServer, email: str) -> tuple[httpx.Client, str]:
    client = server.client(follow_redirects=False, headers={"Accept-Language": "en"})
    client.get("/staff/login")
    csrf = client.cookies["visitt_csrf"]
    response = client.post("/staff/login", data={"email": email, "password": demo.PASSWORD, "csrf": csrf})
    assert response.status_code == 303, response.text
    return client, csrf


def _staff(server: InProcess | LiveServer, email: str) -> Staff:
    with server.database.session() as session:
        staff = session.scalar(select(Staff).where(Staff.email == email))
        assert staff is not None
        session.expunge(staff)
        return staff


def _future(days: int = 3) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).replace(second=0, microsecond=0).isoformat()


@pytest.mark.in_process
def test_the_course_in_its_three_steps(server: InProcess) -> None:
    staff_id = _new_clinician(server)
    client, csrf = _signed_in(server, NEW)
    with closing(client):
        dashboard = client.get("/staff")
        assert 'id="training-needed"' in dashboard.text and "host.js" not in dashboard.text
        for step in ("Read the security rules", "Answer the questions", "Make one test call in the test room"):
            assert step in dashboard.text

        early = client.post("/staff/training/questions", data={"csrf": csrf, **RIGHT},
                            headers={"Accept": "application/json"})
        assert early.status_code == 422 and early.json()["error"]["code"] == "rules_first"
        assert client.post("/staff/training/rules", data={"csrf": csrf}).status_code == 303

        wrong = client.post("/staff/training/questions", data={"csrf": csrf, **RIGHT, "q2": "1", "q4": "x"})
        assert wrong.status_code == 422
        assert "a link can be passed on" in wrong.text  # question 2 explained
        assert "the patient must not pay for it" in wrong.text  # question 4: no answer is a wrong one
        assert "Recording is never allowed" not in wrong.text  # question 0 was right
        assert _staff(server, NEW).quiz_passed_at is None
        assert client.post("/staff/training/questions", data={"csrf": csrf, **RIGHT}).status_code == 303

        # a round trip the echo peer never had does not count
        bogus = client.post("/staff/training/test-call", data={"csrf": csrf, "id": "made-up"},
                            headers={"Accept": "application/json"})
        assert bogus.status_code == 409 and bogus.json()["error"]["code"] == "round_trip_incomplete"
        assert _staff(server, NEW).trained_at is None
        assert "Make one test call in the test room" in client.get("/staff").text

    with server.database.session() as session:  # the round trip itself: tests/test_training_browser.py
        staff = session.get(Staff, staff_id)
        assert staff is not None
        training.test_call_done(session, staff)
    staff = _staff(server, NEW)
    assert staff.trained_at is not None and staff.training_source == "course"
    with server.database.session() as session:
        steps = [event.detail["step"] for event in audit.events(session, action="training_step")
                 if event.subject == f"staff:{staff_id}"]
        assert steps == ["rules", "questions", "questions", "test_call"]  # the refused early answer changed nothing
        assert [event.subject for event in audit.events(session, action="trained")] == [f"staff:{staff_id}"]


def test_an_untrained_clinician_neither_hosts_nor_is_made_cohost(server: LiveServer) -> None:
    staff_id = _new_clinician(server)
    client, _csrf = _signed_in(server, NEW)
    owner = {"Authorization": f"Bearer {server.token}"}
    with closing(client):
        booked = server.post(f"{server.url}/api/v1/appointments", headers=owner, json={
            "patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": _future()})
        assert booked.status_code == 201, booked.text
        invite = {"name": "Nina Ny", "kind": "colleague", "phone": "412 34 568", "staff_id": staff_id}
        refused = server.post(f"{server.url}/api/v1/appointments/{booked.json()['id']}/participants", headers=owner,
                              json=invite)
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["code"] == "training_required" and "training" in error["fields"]["staff_id"]

        async def host_socket() -> None:
            with pytest.raises(InvalidStatus) as refusal:
                await WsClient.staff(server, client.cookies["visitt_session"], origin=server.url)
            assert refusal.value.response.status_code == 403

        run(host_socket())

        with server.database.session() as session:
            staff = session.get(Staff, staff_id)
            assert staff is not None
            training.record_training(session, staff, by=None)
        invited = server.post(f"{server.url}/api/v1/appointments/{booked.json()['id']}/participants",
                              headers=owner, json=invite)
        assert invited.status_code == 201, invited.text

        async def hosts() -> None:
            async with await WsClient.staff(server, client.cookies["visitt_session"], origin=server.url) as socket:
                assert (await socket.hello())["id"]

        run(hosts())


@pytest.mark.in_process
def test_booking_for_an_untrained_clinician_warns_the_secretary(server: InProcess) -> None:
    staff_id = _new_clinician(server)
    secretary = demo.PEOPLE[2][0]
    with server.database.session() as session:
        token = accounts.create_api_token(session, secretary)
    booked = server.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {token}"}, json={
        "patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": _future(),
        "clinician_id": staff_id})
    assert booked.status_code == 201, booked.text
    assert [warning["code"] for warning in booked.json()["warnings"]] == ["clinician_untrained"]

    client, csrf = _signed_in(server, secretary)
    with closing(client):
        form = client.get("/staff/book").text
        assert "Nina Ny (training not completed)" in form and "Dr. Ingrid Berg (" not in form
        when = dt.datetime.fromisoformat(_future(4))
        response = client.post("/staff/book", data={
            "csrf": csrf, "patient_name": "Per Hansen", "patient_phone": "412 34 569", "clinician_id": str(staff_id),
            "date": when.date().isoformat(), "time": "10:00", "duration_minutes": "30", "language": "nb"})
        assert response.status_code == 303, response.text
        page = client.get(response.headers["location"]).text
        assert 'id="clinician-untrained"' in page and "Nina Ny has not completed the training" in page
    trained = server.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                          json={"patient_name": "Kari Nordmann", "patient_phone": "412 34 567",
                                "starts_at": _future(5)})
    assert trained.status_code == 201 and trained.json()["warnings"] == []


@pytest.mark.in_process
def test_training_recorded_by_an_administrator_or_on_the_command_line(server: InProcess,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    first, second = _new_clinician(server), _new_clinician(server, "to@demo.visitt.no")
    with server.database.session() as session:
        admin = accounts.staff_by_email(session, demo.ADMIN[0])  # the demo's administrator
        secretary = session.scalar(select(Staff).where(Staff.email == demo.PEOPLE[2][0]))
        staff = session.get(Staff, first)
        assert staff is not None and secretary is not None
        with pytest.raises(Forbidden):
            training.record_training(session, staff, by=secretary)
        training.record_training(session, staff, by=admin)
        assert staff.training_source == "recorded by admin@demo.visitt.no" and staff.trained_at is not None
        events = audit.events(session, action="trained")
        assert [(event.actor, event.subject) for event in events] == [(f"staff:{admin.id}", f"staff:{first}")]

    cli.main(["users", "trained", "TO@demo.visitt.no", "--data-dir", str(server.settings.data_dir)])
    cli.main(["users", "trained", "to@demo.visitt.no", "--data-dir", str(server.settings.data_dir)])
    out = capsys.readouterr().out
    assert "to@demo.visitt.no is recorded as trained" in out
    assert "was already trained (recorded on the command line)" in out
    with server.database.session() as session:
        staff = session.get(Staff, second)
        assert staff is not None and staff.training_source == training.COMMAND_LINE
        assert len(audit.events(session, action="trained")) == 2
    with pytest.raises(SystemExit):
        cli.main(["users", "trained", "nobody@demo.visitt.no", "--data-dir", str(server.settings.data_dir)])

    # the admin console's API (the console's button posts to the same operation)
    third = _new_clinician(server, "tre@demo.visitt.no")
    with server.database.session() as session:
        admin_token = accounts.create_api_token(session, demo.ADMIN[0])
        clinician_token = accounts.create_api_token(session, demo.PEOPLE[0][0])
    path = f"{server.url}/api/v1/staff/{third}/training"
    assert server.post(path, headers={"Authorization": f"Bearer {clinician_token}"}).status_code == 403
    recorded = server.post(path, headers={"Authorization": f"Bearer {admin_token}"})
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["trained_at"] and recorded.json()["training_source"] == f"recorded by {demo.ADMIN[0]}"


def test_the_upgrade_records_existing_staff_as_trained_before_the_gate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0009")
        connection.execute(text("INSERT INTO staff (email, full_name, role, password_hash, active, created_at, portal) "
                                "VALUES ('gammel@demo.visitt.no', 'Gammel', 'clinician', 'x', 1, '2026-01-01', 0)"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        row = connection.execute(text("SELECT trained_at, training_source FROM staff")).one()
    engine.dispose()
    assert row.trained_at is not None and row.training_source == training.BEFORE_THE_GATE
