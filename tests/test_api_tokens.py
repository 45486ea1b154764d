"""API tokens end: they expire (90 days unless `visitt tokens create --days` says otherwise) and an operator
revokes them with `visitt tokens revoke`. An expired or revoked token gets 401 in the one error shape, and the
refusal is in the audit trail. Driven through the real command (in this process: tests/commands.py) and the real API."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from alembic import command
from alembic.config import Config
from sqlalchemy import select, update

from visitt.store import audit
from visitt import demo
from visitt.store.db import MIGRATIONS, Database
from visitt.store.models import ApiToken, utcnow
from visitt.testing import InProcess

from .conftest import PG_ADMIN_URL, _pg_url, make_settings, migrated_sqlite
from .commands import visitt as _visitt

EMAIL = demo.PEOPLE[0][0]


def _get(server: InProcess, token: str) -> httpx.Response:
    return server.get(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {token}"})


def _listed(tmp_path: Path, *args: str) -> dict[int, list[str]]:
    """`visitt tokens list` as {id: [state, created, expires, e-mail]}."""
    listed = _visitt(tmp_path, "tokens", "list", *args)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    return {int(row[0]): [row[1], f"{row[2]} {row[3]}", f"{row[4]} {row[5]}", row[6]] for row in rows}


@pytest.fixture
def live(tmp_path: Path) -> InProcess:
    server = InProcess(make_settings(tmp_path)).start()
    yield server  # type: ignore[misc]
    server.stop()


def test_a_token_lasts_90_days_and_works_until_then(live: InProcess, tmp_path: Path) -> None:
    created = _visitt(tmp_path, "tokens", "create", EMAIL)
    assert created.returncode == 0 and "valid for 90 days" in created.stderr
    token = created.stdout.strip()
    assert _get(live, token).status_code == 200
    newest = max(_listed(tmp_path))
    state, _created, expires, email = _listed(tmp_path)[newest]
    assert (state, email) == ("active", EMAIL)
    in_90_days = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=90)
    assert abs(dt.datetime.strptime(expires, "%Y-%m-%d %H:%M").replace(tzinfo=dt.timezone.utc) - in_90_days) \
        < dt.timedelta(minutes=2)


def test_an_expired_token_gets_401_and_the_refusal_is_audited(live: InProcess, tmp_path: Path) -> None:
    token = _visitt(tmp_path, "tokens", "create", EMAIL, "--days", "1").stdout.strip()
    assert _get(live, token).status_code == 200
    newest = max(_listed(tmp_path))
    with live.database.session() as session:  # a day and a minute later
        session.execute(update(ApiToken).where(ApiToken.id == newest)
                        .values(expires_at=utcnow() - dt.timedelta(minutes=1)))
    refused = _get(live, token)
    assert refused.status_code == 401
    assert refused.json() == {"error": {"code": "token_expired",
                                        "message": "The API token has expired. Ask for a new one."}}
    assert _listed(tmp_path)[newest][0] == "expired"
    assert _get(live, live.token).status_code == 200  # the other token of the same person still works
    with live.database.session() as session:
        refusals = audit.events(session, action="token_refused")
        assert [(event.subject, event.detail) for event in refusals] == [(f"api_token:{newest}",
                                                                          {"reason": "token_expired"})]


def test_revoking_one_token_by_id_and_then_all_of_a_staff_members(live: InProcess, tmp_path: Path) -> None:
    token = _visitt(tmp_path, "tokens", "create", EMAIL).stdout.strip()
    newest = max(_listed(tmp_path))
    revoked = _visitt(tmp_path, "tokens", "revoke", str(newest))
    assert revoked.returncode == 0 and revoked.stdout.strip() == f"revoked 1 token: {newest}"
    refused = _get(live, token)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_revoked"
    assert refused.headers["content-type"] == "application/json"
    assert _listed(tmp_path, EMAIL)[newest][0] == "revoked"
    assert _get(live, live.token).status_code == 200

    everything = _visitt(tmp_path, "tokens", "revoke", "--email", EMAIL)
    assert everything.returncode == 0 and everything.stdout.startswith("revoked 1 token: ")  # the other one
    assert _get(live, live.token).json()["error"]["code"] == "token_revoked"
    assert {state for state, *_rest in _listed(tmp_path).values()} == {"revoked"}
    with live.database.session() as session:
        assert len(audit.events(session, action="token_revoked")) == 2
        assert {event.detail["reason"] for event in audit.events(session, action="token_refused")} == {"token_revoked"}

    unknown = _visitt(tmp_path, "tokens", "revoke", "999")
    assert unknown.returncode == 2 and "No API token has that number" in unknown.stderr
    neither = _visitt(tmp_path, "tokens", "revoke")
    assert neither.returncode == 2 and "by its id, or --email" in neither.stderr
    assert _get(live, "not-a-token").json()["error"]["code"] == "not_authenticated"  # unknown tokens as before


@pytest.mark.parametrize("days", ["0", "-5", "366"])
def test_the_lifetime_is_from_one_day_to_a_year(tmp_path: Path, days: str) -> None:
    migrated_sqlite(tmp_path / "visitt.sqlite3")  # a copy: tests/test_cli.py migrates from nothing
    assert _visitt(tmp_path, "users", "add", "lege@example.no", "--name", "Kari Lege",
                   VISITT_NEW_PASSWORD="a long enough password").returncode == 0
    refused = _visitt(tmp_path, "tokens", "create", "lege@example.no", "--days", days)
    assert refused.returncode == 2 and "from 1 to 365 days" in refused.stderr and refused.stdout == ""
    assert _listed(tmp_path) == {}


def _migrate(url: str, revision: str) -> None:
    engine = sqlalchemy.create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


def _tokens_made_before_expiry_get_90_days_from_the_upgrade(url: str) -> None:
    _migrate(url, "0007")
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "INSERT INTO departments (name, phone) VALUES ('Hud', '')"))
        connection.execute(sqlalchemy.text(
            "INSERT INTO staff (email, full_name, role, password_hash, active, department_id, portal, created_at) "
            "SELECT 'a@example.no', 'A', 'clinician', 'x', true, id, false, CURRENT_TIMESTAMP FROM departments"))
        connection.execute(sqlalchemy.text(
            "INSERT INTO api_tokens (staff_id, token_hash, created_at) "
            "SELECT id, 'old', CURRENT_TIMESTAMP FROM staff"))
    engine.dispose()
    database = Database(url)
    database.upgrade()
    with database.session() as session:
        row = session.scalar(select(ApiToken))
        assert row is not None and row.revoked_at is None
        assert abs(row.expires_at - (utcnow() + dt.timedelta(days=90))) < dt.timedelta(minutes=2)
    database.dispose()


def test_the_migration_gives_old_tokens_an_end_on_sqlite(tmp_path: Path) -> None:
    _tokens_made_before_expiry_get_90_days_from_the_upgrade(f"sqlite:///{tmp_path / 'old.sqlite3'}")


@pytest.mark.skipif(not PG_ADMIN_URL, reason="no PostgreSQL (VISITT_TEST_POSTGRES is empty)")
def test_the_migration_gives_old_tokens_an_end_on_postgresql(pg_admin: sqlalchemy.Engine) -> None:
    name = f"visitt_test_{secrets.token_hex(6)}"
    with pg_admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        _tokens_made_before_expiry_get_90_days_from_the_upgrade(_pg_url(pg_admin, name))
    finally:
        with pg_admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
