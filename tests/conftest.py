"""Shared test fixtures: real databases (SQLite and PostgreSQL), a real server on loopback, real Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import sqlalchemy
import uvicorn

from visitt import accounts, demo
from visitt.app import create_app
from visitt.db import Database
from visitt.outbox import FileBackend
from visitt.settings import Settings

# PostgreSQL runs at 127.0.0.1:5432 on the development and CI machines. Set VISITT_TEST_POSTGRES=""
# to leave PostgreSQL out on a machine without it.
PG_ADMIN_URL = os.environ.get("VISITT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
CHROMIUM = os.environ.get("VISITT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required",
]
BACKENDS = ["sqlite", "postgresql"] if PG_ADMIN_URL else ["sqlite"]


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sqlalchemy.Engine]:
    engine = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_template(pg_admin: sqlalchemy.Engine) -> Iterator[str]:
    """A migrated database that each test's database is copied from (fast: CREATE DATABASE ... TEMPLATE)."""
    name = f"visitt_tpl_{secrets.token_hex(4)}"
    with pg_admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    database = Database(_pg_url(name))
    database.upgrade()
    database.dispose()
    yield name
    with pg_admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated database: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'visitt.sqlite3'}"
        return
    admin: sqlalchemy.Engine = request.getfixturevalue("pg_admin")
    template: str = request.getfixturevalue("pg_template")
    name = f"visitt_test_{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _pg_url(name)
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    db.upgrade()
    yield db
    db.dispose()


@dataclass
class LiveServer:
    """Visitt on a loopback port in a thread of this process, with the SMS written to a file."""

    settings: Settings
    url: str = ""
    outbox: Path = field(default_factory=Path)
    token: str = ""
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> "LiveServer":
        self.outbox = self.settings.data_dir / "sms.jsonl"
        app = create_app(self.settings, sms_backend=FileBackend(self.outbox))
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False,
                                ws_max_size=1 << 20)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.database = app.state.database
        with self.database.session() as session:
            demo.seed(session)
            self.token = accounts.create_api_token(session, demo.PEOPLE[0][0])
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def sms(self, wait: float = 10.0, count: int = 1) -> list[dict[str, str]]:
        """The SMS sent so far, waiting until there are at least ``count``."""
        deadline = time.monotonic() + wait
        while True:
            lines = self.outbox.read_text().splitlines() if self.outbox.exists() else []
            if len(lines) >= count or time.monotonic() > deadline:
                return [json.loads(line) for line in lines]
            time.sleep(0.05)


def make_settings(tmp_path: Path, database_url: str = "", **overrides: object) -> Settings:
    settings = Settings(data_dir=tmp_path, database_url=database_url, outbox_interval=0.2)
    return replace(settings, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A live server on SQLite, with the demo staff and an API token for the first clinician."""
    live = LiveServer(make_settings(tmp_path)).start()
    yield live
    live.stop()


@pytest.fixture
def pg_server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    live = LiveServer(make_settings(tmp_path, database_url)).start()
    yield live
    live.stop()


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)
