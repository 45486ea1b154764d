"""Deactivating a staff account ends everything at once: web sessions and API tokens now, and the live
signaling sockets on every node within a second (close code 4003). Reactivation lets them sign in again.
Through the admin API and the command line; the sockets on two real nodes of one installation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from visitt import accounts, demo
from visitt.live.deactivation import CLOSE_DEACTIVATED
from visitt.store import audit
from visitt.testing import InProcess, LiveServer

from .conftest import make_settings
from .peers import WsClient, run, staff_login
from .test_password_reset import CLINICIAN, _tokens, visitt_command
from .test_second_factor import _client, _password


def _post(server: InProcess, path: str, token: str) -> tuple[int, dict[str, object]]:
    answer = server.post(f"{server.url}{path}", headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})
    return answer.status_code, answer.json()


@pytest.mark.in_process
def test_deactivation_ends_sessions_and_tokens_and_reactivation_lets_them_back(server: InProcess) -> None:
    admin, clinician, clinician_id = _tokens(server)
    with server.database.session() as session:
        admin_id = accounts.staff_by_email(session, "admin@example.no").id
    with _client(server) as browser:
        _password(browser, CLINICIAN)
        assert browser.get("/staff").status_code == 200
        assert _post(server, f"/api/v1/staff/{admin_id}/deactivate", clinician)[0] == 403  # not an admin
        status, body = _post(server, f"/api/v1/staff/{admin_id}/deactivate", admin)
        assert status == 403  # not their own account
        status, body = _post(server, f"/api/v1/staff/{clinician_id}/deactivate", admin)
        assert status == 200 and (body["id"], body["status"]) == (clinician_id, "inactive")
        assert browser.get("/staff").status_code == 303  # the session is gone
        assert server.get(f"{server.url}/api/v1/appointments",
                          headers={"Authorization": f"Bearer {clinician}"}).status_code == 401
        assert _password(browser, CLINICIAN).status_code == 401  # cannot sign in
    status, body = _post(server, f"/api/v1/staff/{clinician_id}/deactivate", admin)
    assert status == 409 and body["error"]["code"] == "already_deactivated"  # type: ignore[index]
    assert _post(server, "/api/v1/staff/999999/deactivate", admin)[0] == 404
    status, body = _post(server, f"/api/v1/staff/{clinician_id}/reactivate", admin)
    assert status == 200 and (body["id"], body["status"]) == (clinician_id, "active")
    with _client(server, "203.0.113.40") as browser:
        assert _password(browser, CLINICIAN).status_code == 303
    refused = server.get(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {clinician}"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_revoked"  # old tokens stay ended
    with server.database.session() as session:
        rows = [(event.action, event.detail) for event in audit.events(session)
                if event.action in ("user_deactivated", "user_reactivated")]
    assert rows == [("user_deactivated", {"sessions_ended": 1, "tokens_revoked": 2}), ("user_reactivated", {})]


def test_the_command_line_deactivates_and_reactivates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    server = InProcess(make_settings(tmp_path)).start()
    try:
        status, out, _err = visitt_command(monkeypatch, capsys, tmp_path, "users", "deactivate", CLINICIAN)
        assert status == 0 and "deactivated" in out
        status, _out, err = visitt_command(monkeypatch, capsys, tmp_path, "users", "deactivate", CLINICIAN)
        assert status == 2 and "already deactivated" in err
        with _client(server) as browser:
            assert _password(browser, CLINICIAN).status_code == 401
            status, out, _err = visitt_command(monkeypatch, capsys, tmp_path, "users", "reactivate", CLINICIAN)
            assert status == 0 and "reactivated" in out
            assert _password(browser, CLINICIAN).status_code == 303
    finally:
        server.stop()


@pytest.fixture
def nodes(tmp_path: Path, redis_url: str, prefix: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two nodes of one installation: one database, one Redis (as tests/test_cluster.py's)."""
    database_url = f"sqlite:///{tmp_path / 'visitt.sqlite3'}"
    make_settings(tmp_path)  # the migrated copy at that path
    started: list[LiveServer] = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            started.append(LiveServer(make_settings(tmp_path / name, database_url, redis_url=redis_url,
                                                    redis_prefix=prefix)).start())
        yield started[0], started[1]
    finally:
        for node in started:
            node.stop()


def test_live_sockets_on_every_node_close_within_a_second(nodes: tuple[LiveServer, LiveServer]) -> None:
    """The clinician's dashboard open on node a (which holds their shard) and on node b (relayed to a);
    ``visitt users deactivate`` would write the same row from another process: here it is written
    directly, and each node must notice it and close its socket with 4003."""
    first, second = nodes
    cookies = [staff_login(node) for node in nodes]

    async def scenario() -> list[tuple[int | None, float]]:
        sockets = [await WsClient.staff(node, cookie, origin=node.url) for node, cookie in zip(nodes, cookies)]
        for socket in sockets:
            await socket.hello()
        with first.database.session() as session:
            accounts.deactivate(session, None, accounts.staff_by_email(session, demo.PEOPLE[0][0]))
        deactivated = time.monotonic()
        closed = []
        for socket in sockets:
            await asyncio.wait_for(socket._reader, 5)
            closed.append((socket.socket.close_code, time.monotonic() - deactivated))
        return closed

    closed = run(scenario())
    assert [code for code, _after in closed] == [CLOSE_DEACTIVATED, CLOSE_DEACTIVATED]
    assert all(after < 1.0 for _code, after in closed), closed
    assert second.get(f"{second.url}/staff", follow_redirects=False).status_code == 303
