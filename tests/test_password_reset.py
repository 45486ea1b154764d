"""An administrator's one-time link to set a new password: through the API and the command line; the
set-password page's checks; used once, expires, ends the old sessions (in process)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import update

from visitt import accounts, cli, demo
from visitt.store import audit
from visitt.store.models import PasswordReset, Role, utcnow
from visitt.testing import InProcess

from .conftest import make_settings
from .test_second_factor import _client, _csrf, _password

pytestmark = pytest.mark.in_process
CLINICIAN = demo.PEOPLE[0][0]


def _tokens(server: InProcess) -> tuple[str, str, int]:
    """An API token of a new administrator, one of the first demo clinician, and that clinician's id."""
    with server.database.session() as session:
        accounts.create_staff(session, email="admin@example.no", full_name="Ada Admin", role=Role.admin,
                              password=demo.PASSWORD, department=None)
        admin = accounts.create_api_token(session, "admin@example.no")
        clinician = accounts.create_api_token(session, CLINICIAN)
        return admin, clinician, accounts.staff_by_email(session, CLINICIAN).id


def _post(server: InProcess, path: str, token: str) -> object:
    return server.post(f"{server.url}{path}", headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})


def test_a_reset_link_sets_a_new_password_once(server: InProcess) -> None:
    admin, clinician, clinician_id = _tokens(server)
    refused = server.post(f"{server.url}/api/v1/staff/{clinician_id}/reset-link",
                          headers={"Authorization": f"Bearer {clinician}"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    with _client(server) as old:  # signed in with the old password: ended by the reset
        _password(old, CLINICIAN)
        made = server.post(f"{server.url}/api/v1/staff/{clinician_id}/reset-link",
                           headers={"Authorization": f"Bearer {admin}"})
        assert made.status_code == 201 and made.json()["expires_in_hours"] == 24
        url = made.json()["url"]
        assert url.startswith(server.settings.public_url or server.url) and "/staff/reset/" in url
        path = "/staff/reset/" + url.rsplit("/staff/reset/", 1)[1]
        with _client(server) as client:
            page = client.get(path)
            assert page.status_code == 200 and "Set a new password" in page.text
            csrf = _csrf(client, path)
            short = client.post(path, data={"password": "short", "repeated": "short", "csrf": csrf})
            assert short.status_code == 422 and "Use at least 10 characters." in short.text
            differ = client.post(path, data={"password": "a new password 1", "repeated": "a new password 2",
                                             "csrf": csrf})
            assert differ.status_code == 422 and "The two passwords are not the same." in differ.text
            assert _password(client, CLINICIAN).status_code == 303  # nothing changed so far
            done = client.post(path, data={"password": "a new password 1", "repeated": "a new password 1",
                                           "csrf": csrf})
            assert done.status_code == 303 and done.headers["location"] == "/staff/login?ended=password_set"
            assert "Your new password is set" in client.get(done.headers["location"]).text
            again = client.get(path)
            assert again.status_code == 404 and "This link does not work any more" in again.text
        assert old.get("/staff").status_code == 303  # the old session ended
    with _client(server, "203.0.113.31") as client:
        assert _password(client, CLINICIAN).status_code == 401
        assert _password(client, CLINICIAN, "a new password 1").status_code == 303
    with server.database.session() as session:
        assert [event.action for event in audit.events(session) if event.action in (
            "reset_link_created", "password_reset")] == ["reset_link_created", "password_reset"]


def test_an_expired_link_is_refused_and_changes_nothing(server: InProcess) -> None:
    admin, _clinician, clinician_id = _tokens(server)
    url = server.post(f"{server.url}/api/v1/staff/{clinician_id}/reset-link",
                      headers={"Authorization": f"Bearer {admin}"}).json()["url"]
    path = "/staff/reset/" + url.rsplit("/staff/reset/", 1)[1]
    with server.database.session() as session:
        session.execute(update(PasswordReset).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    with _client(server) as client:
        csrf = _csrf(client, "/staff/login")
        gone = client.post(path, data={"password": "a new password 1", "repeated": "a new password 1", "csrf": csrf})
        assert gone.status_code == 404 and "Ask your administrator for a new one" in gone.text
        assert _password(client, CLINICIAN).status_code == 303  # the old password still works


def visitt_command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                   *args: str, **env: str) -> tuple[int, str, str]:
    """``visitt *args`` run in this process (as tests/test_cli.py's subprocess would, without its start-up
    time): the exit status, stdout and stderr."""
    monkeypatch.setenv("VISITT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VISITT_PASSWORD_HASHING", "cheapest")  # the process's choice: as the other tests'
    monkeypatch.delenv("VISITT_DATABASE_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        cli.main(list(args))
        status = 0
    except SystemExit as stop:
        status = int(stop.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def test_the_command_line_prints_a_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    server = InProcess(make_settings(tmp_path)).start()
    monkeypatch.delenv("VISITT_PUBLIC_URL", raising=False)
    try:
        status, _out, err = visitt_command(monkeypatch, capsys, tmp_path, "users", "reset-link", CLINICIAN)
        assert status == 2 and "VISITT_PUBLIC_URL" in err
        status, out, err = visitt_command(monkeypatch, capsys, tmp_path, "users", "reset-link", CLINICIAN,
                                          VISITT_PUBLIC_URL="https://video.example")
        assert status == 0 and "works once, for 24 hours" in err
        assert out.startswith("https://video.example/staff/reset/")
        status, _out, err = visitt_command(monkeypatch, capsys, tmp_path, "users", "reset-link", "nobody@example.no",
                                            VISITT_PUBLIC_URL="https://video.example")
        assert status == 2 and "No staff account has that e-mail address" in err
        path = "/staff/reset/" + out.strip().rsplit("/staff/reset/", 1)[1]
        assert server.get(f"{server.url}{path}").status_code == 200
    finally:
        server.stop()
