"""Liveness and readiness (visitt/ops/health.py)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
from fastapi import FastAPI

from visitt.app import create_app
from visitt.store.db import Database
from visitt.ops.health import Readiness, head_revision
from visitt.testing import LiveServer

from .conftest import make_settings


def get(app: FastAPI, *paths: str) -> list[httpx.Response]:
    """GET each path from ``app`` in process, without its lifespan: nothing starts, nothing migrates."""
    async def fetch() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://visitt") as client:
            return [await client.get(path) for path in paths]
    return asyncio.run(fetch())


def test_a_running_node_is_alive_and_ready(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


def test_not_ready_until_the_schema_is_at_the_newest_migration(tmp_path: Path) -> None:
    # a database of its own: make_settings's own starts migrated
    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'empty.sqlite3'}"))
    ready, alive = get(app, "/readyz", "/healthz")
    assert ready.status_code == 503
    assert ready.json() == {"error": {"code": "not_ready", "message": (
        f"the database schema is at revision None; this version of Visitt needs {head_revision()}")}}
    assert alive.status_code == 200  # alive all the same
    app.state.database.upgrade()
    assert get(app, "/readyz")[0].status_code == 200
    app.state.database.dispose()


def test_an_unreachable_database_is_not_ready(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    app = create_app(make_settings(tmp_path, f"postgresql+psycopg://visitt@127.0.0.1:{port}/visitt"))
    (response,) = get(app, "/readyz")
    assert response.status_code == 503
    assert response.json() == {"error": {"code": "not_ready", "message": "the database is not reachable"}}
    app.state.database.dispose()


def test_a_silent_database_times_out_and_probes_share_one_check() -> None:
    silent = socket.socket()  # accepts connections (the kernel does) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    database = Database(f"postgresql+psycopg://visitt@127.0.0.1:{silent.getsockname()[1]}/visitt")
    readiness = Readiness(database, timeout=0.3)

    async def probe_twice() -> tuple[str | None, str | None, bool]:
        first = await readiness.problem()
        check = readiness._check
        second = await readiness.problem()
        silent.close()  # the waiting connection is reset, and the check's thread ends
        return first, second, readiness._check is check

    first, second, shared = asyncio.run(probe_twice())
    database.dispose()
    assert first == second == "the database did not answer within 0.3 s"
    assert shared
