"""The admin console's operations (issue 18 §2) through the JSON API, the one-time link's page and the
command line: staff, departments, API tokens and the audit trail; what a department admin may not see or
change; bad input changes nothing; and the migration's move to several departments per account."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
from sqlalchemy import func, select

from visitt import accounts, cli, demo
from visitt.store.models import ApiToken, AuditEvent, Department, Role, Staff
from visitt.testing import InProcess, LiveServer

from .browser import give_second_factor
from .conftest import make_settings, migrated_sqlite
from .test_api_tokens import _migrate

ADMIN = demo.ADMIN[0]
INGRID, OLA, SARA = (email for email, _role, _name in demo.PEOPLE)
SURGEON, DEPARTMENT_ADMIN = "kirurg@kirurgi.example", "avdelingsleder@demo.visitt.no"
Server = LiveServer | InProcess


def _bearer(server: Server, email: str) -> dict[str, str]:
    with server.database.session() as session:
        return {"Authorization": f"Bearer {accounts.create_api_token(session, email)}"}


def _ids(server: Server) -> dict[str, int]:
    with server.database.session() as session:
        found = {staff.email: staff.id for staff in session.scalars(select(Staff))}
        found.update({name: id_ for id_, name in session.execute(select(Department.id, Department.name))})
        return found


def _sign_in(server: Server, email: str, password: str = demo.PASSWORD) -> tuple[Any, str, httpx.Response]:
    """Sign in; an administrator with the second factor an administrator must have (set up here)."""
    totp = give_second_factor(server.database, email) if email == ADMIN else None
    client = server.client(follow_redirects=False, headers={"Accept-Language": "en"})
    client.get("/staff/login")
    csrf = client.cookies["visitt_csrf"]
    answer = client.post("/staff/login", data={"email": email, "password": password, "csrf": csrf})
    if totp is not None:
        assert answer.headers["location"].endswith("/staff/login/code"), answer.headers
        answer = client.post("/staff/login/code", data={"code": totp.now(), "csrf": csrf})
    return client, csrf, answer


def _events(server: Server, action: str) -> list[AuditEvent]:
    with server.database.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


@pytest.mark.in_process
def test_an_admin_invites_changes_deactivates_and_reactivates_an_account(server: InProcess) -> None:
    admin, ids = _bearer(server, ADMIN), _ids(server)
    home = ids[demo.DEPARTMENT[0]]
    invited = server.post(f"{server.url}/api/v1/staff", headers=admin, json={
        "email": "Ny.Lege@Demo.Visitt.no", "full_name": "Nora Ny", "role": "clinician", "department_ids": [home]})
    assert invited.status_code == 201, invited.text
    staff, link = invited.json()["staff"], invited.json()["link"]
    assert (staff["email"], staff["status"], staff["department_ids"]) == ("ny.lege@demo.visitt.no", "invited", [home])
    assert _sign_in(server, "ny.lege@demo.visitt.no", "not yet a password")[2].status_code == 401

    path = link["url"].removeprefix(server.url)
    client, csrf, _ = _sign_in(server, INGRID)  # any browser: the link is the credential
    assert "Nora Ny" in client.get(path).text
    short = client.post(path, data={"csrf": csrf, "password": "short", "repeated": "short"})
    assert short.status_code == 422 and "at least 10 characters" in short.text
    assert client.post(path, data={"csrf": csrf, "password": "en lang frase", "repeated": "en lang frase"}
                       ).status_code == 303
    assert client.get(path).status_code == 404  # once only
    nora, _csrf, signed_in = _sign_in(server, "ny.lege@demo.visitt.no", "en lang frase")
    assert signed_in.status_code == 303
    shown = server.get(f"{server.url}/api/v1/staff/{staff['id']}", headers=admin).json()
    assert shown["status"] == "active" and shown["last_sign_in_at"] is not None

    surgery = server.post(f"{server.url}/api/v1/departments", headers=admin,
                          json={"name": "Kirurgisk poliklinikk", "phone": "22 00 00 00"})
    assert surgery.status_code == 201 and surgery.json()["phone"] == "+47 22 00 00 00"
    changed = server.patch(f"{server.url}/api/v1/staff/{staff['id']}", headers=admin, json={
        "role": "secretary", "department_ids": [home, surgery.json()["id"]], "full_name": "Nora Ny-Berg"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["role"], changed.json()["department_ids"], changed.json()["full_name"]) == \
        ("secretary", sorted([home, surgery.json()["id"]]), "Nora Ny-Berg")

    assert nora.get("/staff").status_code == 200
    off = server.post(f"{server.url}/api/v1/staff/{staff['id']}/deactivate", headers=admin)
    assert off.status_code == 200 and off.json()["status"] == "inactive"
    assert nora.get("/staff").status_code == 303  # the session ended: back to sign-in
    assert _sign_in(server, "ny.lege@demo.visitt.no", "en lang frase")[2].status_code == 401
    assert server.post(f"{server.url}/api/v1/staff/{staff['id']}/reactivate", headers=admin).json()["status"] \
        == "active"
    reset = server.post(f"{server.url}/api/v1/staff/{staff['id']}/password-link", headers=admin)
    assert reset.status_code == 201 and "/staff/reset/" in reset.json()["url"]
    nora.close()
    client.close()

    change = _events(server, "staff_changed")[-1]
    assert change.actor == f"staff:{ids[ADMIN]}" and change.subject == f"staff:{staff['id']}"
    assert change.detail["changes"]["role"] == {"before": "clinician", "after": "secretary"}
    assert change.detail["changes"]["full_name"]["after"] == "changed"
    for action in ("staff_invited", "staff_changed", "staff_deactivated", "staff_reactivated", "password_link",
                   "account_set_up", "department_created"):
        for event in _events(server, action):
            assert "Nora" not in str(event.detail) and "ny.lege" not in str(event.detail), action


@pytest.mark.in_process
def test_bad_input_gets_a_clear_message_and_changes_nothing(server: InProcess) -> None:
    admin, ids = _bearer(server, ADMIN), _ids(server)

    def counts() -> tuple[int, int, int]:
        with server.database.session() as session:
            return (session.scalar(select(func.count(Staff.id))) or 0,
                    session.scalar(select(func.count(Department.id))) or 0,
                    session.scalar(select(func.count(ApiToken.id))) or 0)

    before = counts()
    bad = server.post(f"{server.url}/api/v1/staff", headers=admin,
                      json={"email": "not an address", "full_name": " ", "department_ids": [999]})
    assert bad.status_code == 422
    assert set(bad.json()["error"]["fields"]) == {"email", "full_name", "department_ids"}
    assert server.post(f"{server.url}/api/v1/staff", headers=admin, json={
        "email": INGRID, "full_name": "Dobbel", "role": "clinician"}).status_code == 409
    assert server.post(f"{server.url}/api/v1/staff", headers=admin, json={
        "email": "x@demo.visitt.no", "full_name": "X", "role": "boss"}).status_code == 422
    phone = server.post(f"{server.url}/api/v1/departments", headers=admin, json={"name": "Hud", "phone": "12"})
    assert phone.status_code == 422 and "phone" in phone.json()["error"]["fields"]
    assert server.post(f"{server.url}/api/v1/departments", headers=admin,
                       json={"name": demo.DEPARTMENT[0]}).status_code == 409
    days = server.post(f"{server.url}/api/v1/tokens", headers=admin,
                       json={"name": "Booking", "owner_id": ids[INGRID], "days": 0})
    assert days.status_code == 422 and "days" in days.json()["error"]["fields"]
    portal = server.patch(f"{server.url}/api/v1/staff/{ids[SARA]}", headers=admin, json={"portal": True})
    assert portal.status_code == 422 and "portal" in portal.json()["error"]["fields"]
    own = server.post(f"{server.url}/api/v1/staff/{ids[ADMIN]}/deactivate", headers=admin)
    assert own.status_code == 403
    assert counts() == (before[0], before[1], before[2])


@pytest.mark.in_process
def test_a_department_admin_sees_and_manages_only_their_departments(pg_server: InProcess) -> None:
    server = pg_server
    with server.database.session() as session:
        home = session.scalar(select(Department).where(Department.name == demo.DEPARTMENT[0]))
        surgery = Department(name="Kirurgisk poliklinikk")
        session.add(surgery)
        accounts.create_staff(session, email=SURGEON, full_name="Kari Kirurg", role=Role.clinician,
                              password=demo.PASSWORD, department=surgery)
        accounts.create_staff(session, email=DEPARTMENT_ADMIN, full_name="Anne Leder", role=Role.department_admin,
                              password=demo.PASSWORD, department=home)
        accounts.create_api_token(session, SURGEON)
    ids = _ids(server)
    leader, surgeon_token = _bearer(server, DEPARTMENT_ADMIN), _bearer(server, SURGEON)
    assert server.get(f"{server.url}/api/v1/appointments", headers=surgeon_token).status_code == 200
    listed = {staff["email"] for staff in server.get(f"{server.url}/api/v1/staff", headers=leader).json()}
    assert {INGRID, OLA, SARA, DEPARTMENT_ADMIN} <= listed and SURGEON not in listed and ADMIN not in listed

    surgeon = ids[SURGEON]
    assert server.get(f"{server.url}/api/v1/staff/{surgeon}", headers=leader).status_code == 404
    assert server.patch(f"{server.url}/api/v1/staff/{surgeon}", headers=leader, json={"role": "secretary"}
                        ).status_code == 404
    for operation in ("deactivate", "reactivate", "password-link"):
        assert server.post(f"{server.url}/api/v1/staff/{surgeon}/{operation}", headers=leader).status_code == 404
    assert server.get(f"{server.url}/api/v1/staff/{ids[ADMIN]}", headers=leader).status_code == 404
    assert server.patch(f"{server.url}/api/v1/staff/{ids[OLA]}", headers=leader, json={"role": "admin"}
                        ).status_code == 403
    assert server.patch(f"{server.url}/api/v1/staff/{ids[OLA]}", headers=leader,
                        json={"department_ids": [ids["Kirurgisk poliklinikk"]]}).status_code == 403
    assert server.post(f"{server.url}/api/v1/staff", headers=leader, json={
        "email": "ny@kirurgi.example", "full_name": "Ny", "department_ids": [ids["Kirurgisk poliklinikk"]]}
    ).status_code == 403
    assert server.patch(f"{server.url}/api/v1/staff/{ids[OLA]}", headers=leader, json={"role": "secretary"}
                        ).json()["role"] == "secretary"

    assert server.post(f"{server.url}/api/v1/departments", headers=leader, json={"name": "Ny"}).status_code == 403
    assert server.patch(f"{server.url}/api/v1/departments/{ids['Kirurgisk poliklinikk']}", headers=leader,
                        json={"phone": "22 00 00 00"}).status_code == 404
    assert server.patch(f"{server.url}/api/v1/departments/{ids[demo.DEPARTMENT[0]]}", headers=leader,
                        json={"phone": "69 86 11 11"}).json()["phone"] == "+47 69 86 11 11"
    assert [d["name"] for d in server.get(f"{server.url}/api/v1/departments", headers=leader).json()] == \
        [demo.DEPARTMENT[0]]

    tokens = server.get(f"{server.url}/api/v1/tokens", headers=leader).json()
    assert tokens and all(token["owner_email"] != SURGEON and "token" not in token for token in tokens)
    with server.database.session() as session:
        surgeons_token = session.scalar(select(ApiToken.id).where(ApiToken.staff_id == surgeon))
    assert server.post(f"{server.url}/api/v1/tokens/{surgeons_token}/revoke", headers=leader).status_code == 404
    assert server.post(f"{server.url}/api/v1/tokens", headers=leader,
                       json={"name": "X", "owner_id": surgeon}).status_code == 422
    assert server.get(f"{server.url}/api/v1/appointments", headers=surgeon_token).status_code == 200

    trail = server.get(f"{server.url}/api/v1/audit", headers=leader).json()["events"]
    assert trail and all(f"staff:{surgeon}" not in (event["actor"], event["subject"]) for event in trail)
    assert any(event["subject"] == f"staff:{ids[OLA]}" for event in trail)
    assert server.get(f"{server.url}/api/v1/audit", headers=leader, params={"person": SURGEON}).status_code == 422
    exported = server.get(f"{server.url}/api/v1/audit.csv", headers=leader).text
    assert f"staff:{surgeon}" not in exported and f"staff:{ids[OLA]}" in exported
    assert server.get(f"{server.url}/api/v1/staff", headers=surgeon_token).status_code == 403
    assert server.get(f"{server.url}/api/v1/audit", headers=surgeon_token).status_code == 403


@pytest.mark.in_process
def test_a_revoked_token_is_refused_at_once_on_every_node(server: InProcess, tmp_path: Path) -> None:
    admin, ids = _bearer(server, ADMIN), _ids(server)
    created = server.post(f"{server.url}/api/v1/tokens", headers=admin,
                          json={"name": "Booking system", "owner_id": ids[INGRID]})
    assert created.status_code == 201, created.text
    token = created.json()
    in_90_days = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=90)
    assert abs(dt.datetime.fromisoformat(token["expires_at"]) - in_90_days) < dt.timedelta(minutes=2)
    listed = server.get(f"{server.url}/api/v1/tokens", headers=admin).json()
    assert token["token"] not in str(listed) and listed[0]["name"] == "Booking system"
    other = InProcess(make_settings(tmp_path)).start()  # a second node on the same database
    try:
        use = {"Authorization": f"Bearer {token['token']}"}
        assert other.get(f"{other.url}/api/v1/appointments", headers=use).status_code == 200
        revoked = server.post(f"{server.url}/api/v1/tokens/{token['id']}/revoke", headers=admin)
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
        refused = other.get(f"{other.url}/api/v1/appointments", headers=use)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_revoked"
    finally:
        other.stop()
    assert server.post(f"{server.url}/api/v1/tokens/{token['id']}/revoke", headers=admin).status_code == 409


@pytest.mark.in_process
def test_a_department_without_video_refuses_bookings(server: InProcess) -> None:
    admin, ids = _bearer(server, ADMIN), _ids(server)
    home = ids[demo.DEPARTMENT[0]]
    assert server.patch(f"{server.url}/api/v1/departments/{home}", headers=admin, json={"offers_video": False}
                        ).json()["offers_video"] is False
    when = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).isoformat()
    refused = server.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                          json={"patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": when})
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"]["clinician_id"] == \
        "This clinician's department does not offer video consultations."
    client, csrf, _ = _sign_in(server, SARA)
    with client:
        form = client.post("/staff/book", data={"csrf": csrf, "patient_name": "Kari Nordmann",
                                                "patient_phone": "412 34 567", "date": when[:10], "time": "10:00",
                                                "duration_minutes": "30", "clinician_id": str(ids[INGRID]),
                                                "language": "nb"})
        assert form.status_code == 422 and "does not offer video consultations" in form.text
    assert "Ingrid" not in server.get(f"{server.url}/portal").text


@pytest.mark.in_process
def test_the_audit_trail_is_searched_and_exported_and_looking_is_recorded(server: InProcess) -> None:
    admin, ids = _bearer(server, ADMIN), _ids(server)
    server.patch(f"{server.url}/api/v1/staff/{ids[OLA]}", headers=admin, json={"role": "secretary"})
    today = dt.datetime.now(dt.timezone.utc).date()
    found = server.get(f"{server.url}/api/v1/audit", headers=admin, params={
        "person": OLA, "action": "staff_changed", "since": (today - dt.timedelta(days=1)).isoformat(),
        "until": (today + dt.timedelta(days=1)).isoformat()}).json()
    assert [(event["action"], event["subject"]) for event in found["events"]] == \
        [("staff_changed", f"staff:{ids[OLA]}")] and found["more"] is False
    assert server.get(f"{server.url}/api/v1/audit", headers=admin, params={
        "action": "staff_changed", "until": (today - dt.timedelta(days=1)).isoformat()}).json()["events"] == []
    bad = server.get(f"{server.url}/api/v1/audit", headers=admin, params={"since": "igår", "action": "nonsense"})
    assert bad.status_code == 422 and set(bad.json()["error"]["fields"]) == {"since", "action"}
    viewed = _events(server, "audit_viewed")
    assert viewed[-1].actor == f"staff:{ids[ADMIN]}" and viewed[-1].detail["filters"]["action"] == "staff_changed"

    exported = server.get(f"{server.url}/api/v1/audit.csv", headers=admin, params={"action": "staff_changed"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["id", "at", "actor", "action", "room_id", "subject", "detail"]
    assert [row[3] for row in rows[1:]] == ["staff_changed"] and rows[1][5] == f"staff:{ids[OLA]}"
    assert _events(server, "audit_exported")[-1].detail["filters"] == {"action": "staff_changed"}


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``visitt *args`` in this process (the commands are the real ones; a subprocess each costs seconds)."""
    try:
        cli.main(list(args))
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_line_does_what_the_console_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    migrated_sqlite(tmp_path / "visitt.sqlite3")
    for name, value in (("VISITT_DATA_DIR", str(tmp_path)), ("VISITT_PASSWORD_HASHING", "cheapest"),
                        ("VISITT_PUBLIC_URL", "https://video.example"), ("VISITT_NEW_PASSWORD", "a long password")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("VISITT_DATABASE_URL", raising=False)
    assert _cli(capsys, "users", "add", "admin@example.no", "--name", "Eva Admin", "--role", "admin")[0] == 0
    code, out, err = _cli(capsys, "departments", "add", "Hud", "--phone", "22 11 00 00", "--as", "admin@example.no")
    assert code == 0 and "+47 22 11 00 00" in out, err
    code, out, err = _cli(capsys, "users", "invite", "lege@example.no", "--name", "Kari Lege", "--department", "Hud",
                          "--as", "admin@example.no")
    assert code == 0 and out.startswith("https://video.example/staff/welcome/") and "not shown again" in err
    code, out, err = _cli(capsys, "users", "set", "lege@example.no", "--role", "secretary", "--as", "admin@example.no")
    assert code == 0 and "secretary" in out and "invited" in out, err
    code, out, _err = _cli(capsys, "users", "list", "--department", "Hud", "--as", "admin@example.no")
    assert "lege@example.no" in out and "admin@example.no" not in out
    code, _out, err = _cli(capsys, "users", "set", "admin@example.no", "--name", "X", "--as", "lege@example.no")
    assert code == 2 and "administrators" in err
    code, _out, err = _cli(capsys, "departments", "set", "Hud", "--phone", "12", "--as", "admin@example.no")
    assert code == 2 and "phone" in err
    code, out, _err = _cli(capsys, "audit", "export", "--action", "staff_changed", "--as", "admin@example.no")
    assert code == 0 and out.splitlines()[0] == "id,at,actor,action,room_id,subject,detail"
    assert len(out.splitlines()) == 2 and ",staff_changed," in out


def test_the_migration_gives_every_account_its_department_in_the_list(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    _migrate(url, "0009")
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("INSERT INTO departments (name, phone) VALUES ('Hud', '')"))
        connection.execute(sqlalchemy.text(
            "INSERT INTO staff (email, full_name, role, password_hash, active, department_id, portal, created_at) "
            "SELECT 'a@example.no', 'A', 'secretary', 'x', true, id, false, CURRENT_TIMESTAMP FROM departments"))
    engine.dispose()
    _migrate(url, "head")
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT count(*) FROM staff_departments")).scalar() == 1
        assert connection.execute(sqlalchemy.text("SELECT offers_video FROM departments")).scalar() in (1, True)
    engine.dispose()


@pytest.mark.in_process
def test_the_console_forms_check_their_input_and_csrf(server: InProcess) -> None:
    ids = _ids(server)
    client, csrf, signed_in = _sign_in(server, ADMIN)
    clinician, _csrf, _ = _sign_in(server, INGRID)
    with client, clinician:
        assert signed_in.status_code == 303
        assert ">Admin</a>" in client.get("/staff").text and ">Admin</a>" not in clinician.get("/staff").text
        assert clinician.get("/staff/admin").status_code == 403
        bad = client.post("/staff/admin/invite", data={"csrf": csrf, "full_name": "", "email": "nei", "role": "boss"})
        assert bad.status_code == 422 and "Choose a role." in bad.text
        bad = client.post("/staff/admin/invite", data={"csrf": csrf, "full_name": "", "email": "nei",
                                                       "role": "clinician"})
        assert bad.status_code == 422 and "Enter a valid e-mail address." in bad.text and "Enter the full name." in bad.text
        forged = client.post("/staff/admin/invite", data={"csrf": "forged", "full_name": "Ny", "role": "clinician",
                                                          "email": "ny@demo.visitt.no"})
        assert forged.status_code == 403
        phone = client.post(f"/staff/admin/departments/{ids[demo.DEPARTMENT[0]]}",
                            data={"csrf": csrf, "name": demo.DEPARTMENT[0], "phone": "12", "offers_video": "on"})
        assert phone.status_code == 422 and "Enter a phone number" in phone.text
        days = client.post("/staff/admin/tokens", data={"csrf": csrf, "name": "X", "owner_id": str(ids[INGRID]),
                                                        "days": "9999"})
        assert days.status_code == 422 and "Choose from 1 to 365 days." in days.text
    with server.database.session() as session:
        assert session.scalar(select(func.count(Staff.id)).where(Staff.email == "ny@demo.visitt.no")) == 0
        assert session.scalar(select(Department.phone).where(Department.name == demo.DEPARTMENT[0])) == \
            demo.DEPARTMENT[1]
        assert session.scalar(select(func.count(ApiToken.id)).where(ApiToken.name == "X")) == 0
