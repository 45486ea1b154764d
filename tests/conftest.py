"""Shared test fixtures: real databases (SQLite and PostgreSQL), a real server on loopback, real Chromium."""

from __future__ import annotations

import asyncio
import atexit
import os
import resource
import secrets
import time
import shutil
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
import sqlalchemy
from playwright.sync_api import expect

from visitt.store.db import Database
from visitt.settings import Settings, load
from visitt.testing import InProcess, LiveServer

from . import services
from .janus import JanusServer

# The PostgreSQL and Redis the tests use; where nothing on this machine takes a connection at these
# URLs, the tests start private ones (tests/services.py). VISITT_TEST_POSTGRES="" leaves the
# PostgreSQL and Redis cases out: they are skipped.
PG_ADMIN_URL = os.environ.get("VISITT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("VISITT_TEST_REDIS", "redis://127.0.0.1:6379/0") if PG_ADMIN_URL else ""
SKIPPED = 'left out by VISITT_TEST_POSTGRES=""'
CHROMIUM = os.environ.get("VISITT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required",
]
BACKENDS = ["sqlite", "postgresql"] if PG_ADMIN_URL else ["sqlite"]
# Settings() reads VISITT_* from the environment: the tests start from the defaults, whatever the shell has set.
for _name in [name for name in os.environ if name.startswith("VISITT_") and not name.startswith("VISITT_TEST_")]:
    del os.environ[_name]


# Playwright's expect() waits up to 5 s by default for what it asserts; at a load of 40 on two cores a page
# took longer than that to move focus after a round trip to the server (test_accessibility_browser's keyboard
# test). It returns as soon as the assertion holds, so a longer wait costs nothing when the test passes.
expect.set_options(timeout=20_000)


def settings_from(monkeypatch: pytest.MonkeyPatch, **environment: str) -> Settings:
    """The settings ``visitt serve`` would read with ``environment`` (``VISITT_*`` names) set."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return load()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """The PostgreSQL admin URL: VISITT_TEST_POSTGRES's, or a private server's (tests/services.py)."""
    if not PG_ADMIN_URL:
        pytest.skip(f"PostgreSQL {SKIPPED}")
    with services.postgres(PG_ADMIN_URL) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The Redis URL: VISITT_TEST_REDIS's, or a private server's (tests/services.py)."""
    if not REDIS_URL:
        pytest.skip(f"Redis {SKIPPED}" if not PG_ADMIN_URL else 'Redis left out by VISITT_TEST_REDIS=""')
    with services.redis(REDIS_URL) as url:
        yield url


@pytest.fixture(scope="session")
def pg_admin(pg_admin_url: str) -> Iterator[sqlalchemy.Engine]:
    engine = sqlalchemy.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_template(pg_admin: sqlalchemy.Engine) -> Iterator[str]:
    """A migrated database that each test's database is copied from (fast: CREATE DATABASE ... TEMPLATE)."""
    name = f"visitt_tpl_{secrets.token_hex(4)}"
    with pg_admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    database = Database(_pg_url(pg_admin, name))
    database.upgrade()
    database.dispose()
    yield name
    with pg_admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _pg_url(admin: sqlalchemy.Engine, name: str) -> str:
    return admin.url.set(database=name).render_as_string(hide_password=False)


_sqlite_template: Path | None = None


def migrated_sqlite(path: Path) -> Path:
    """``path`` made a copy of an empty SQLite database migrated once per test process: a fresh
    migration costs from a third of a second to seconds on a busy machine, a copy milliseconds. The
    server's own ``upgrade`` at start-up still runs (and finds nothing to do); tests/test_cli.py and
    the migration tests start from nothing."""
    global _sqlite_template
    if _sqlite_template is None:
        directory = Path(tempfile.mkdtemp(prefix="visitt-template-"))
        atexit.register(shutil.rmtree, directory, True)
        template = directory / "visitt.sqlite3"
        database = Database(f"sqlite:///{template}")
        database.upgrade()
        database.dispose()  # the last connection closed: the write-ahead log is folded into the file
        _sqlite_template = template
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_sqlite_template, path)
    return path


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated database: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{migrated_sqlite(tmp_path / 'visitt.sqlite3')}"
        return
    admin: sqlalchemy.Engine = request.getfixturevalue("pg_admin")
    template: str = request.getfixturevalue("pg_template")
    name = f"visitt_test_{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _pg_url(admin, name)
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    db.upgrade()
    yield db
    db.dispose()


def make_settings(tmp_path: Path, database_url: str = "", **overrides: object) -> Settings:
    # The tests book from an hour to days ahead and expect the link to work: the window opens a month
    # early here. tests/test_joining.py checks the real window with explicit settings.
    # A dropped socket keeps its place in the call for a moment only, so closing a test's socket
    # ends its part soon; tests/test_reconnect.py sets the grace it needs.
    # /metrics is scraped without a token, as on a node whose port is private (tests/test_metrics.py checks
    # that it is closed by default).
    # Passwords are hashed with argon2-cffi's cheapest profile: the real one costs most of a second per
    # demo account and sign-in on a busy machine (tests/test_limiter.py keeps the real one where it counts).
    # Without a database URL, the data directory's SQLite database starts as a migrated copy (migrated_sqlite).
    if not database_url and not (tmp_path / "visitt.sqlite3").exists():
        migrated_sqlite(tmp_path / "visitt.sqlite3")
    settings = Settings(data_dir=tmp_path, database_url=database_url, outbox_interval=0.2,
                        link_opens_minutes=31 * 24 * 60, reconnect_grace=0.3, metrics_open=True,
                        password_hashing="cheapest")
    return settings.but(**overrides)


def _node(request: pytest.FixtureRequest, settings: Settings) -> LiveServer | InProcess:
    """A LiveServer; for a test marked ``in_process`` (it needs only HTTP), the same application in
    process (visitt.testing.InProcess): no server to start and stop."""
    if request.node.get_closest_marker("in_process") is not None:
        return InProcess(settings).start()
    return LiveServer(settings).start()


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer | InProcess]:
    """A live server on SQLite, with the demo staff and an API token for the first clinician."""
    node = _node(request, make_settings(tmp_path))
    yield node
    node.stop()


@pytest.fixture
def pg_server(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[LiveServer | InProcess]:
    """``server`` once on SQLite, once on PostgreSQL."""
    node = _node(request, make_settings(tmp_path, database_url))
    yield node
    node.stop()


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    # Module scope: Playwright's sync API keeps an event loop running in this thread while it is open,
    # which tests that call asyncio.run after it must not meet.
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


# make test runs the suite in two pytest-xdist workers (-n 2 --dist loadfile --no-loadscope-reorder): each test
# module is handed whole to whichever worker is free (so a module-scoped Chromium, Janus, nginx or OpenID provider
# starts once), in the order below. A test module that drives a browser, or builds a virtual environment, takes from
# half a minute to minutes, most others seconds: those long ones go first, to both workers, and the short ones fill
# in at the end, so that both workers finish at about the same time.
SLOW_MARKS = ("browser", "install", "packaging")


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture, which keeps each module's tests together
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that launches Chromium is marked ``browser`` (so ``-m "not browser"`` leaves all of
    them out): a test that uses the ``browser`` fixture without the mark stops the run here. In a
    pytest-xdist worker, the modules with a test marked browser, install or packaging come first."""
    unmarked = [item.nodeid for item in items
                if "browser" in getattr(item, "fixturenames", ()) and item.get_closest_marker("browser") is None]
    if unmarked:
        raise pytest.UsageError("these tests launch Chromium but are not marked @pytest.mark.browser:\n  "
                                + "\n  ".join(unmarked))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        slow = {item.nodeid.partition("::")[0] for item in items
                if any(item.get_closest_marker(mark) is not None for mark in SLOW_MARKS)}
        items.sort(key=lambda item: item.nodeid.partition("::")[0] not in slow)  # stable: each module's order kept


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix of this test's own; its keys are removed afterwards."""
    name = f"visitt-test-{secrets.token_hex(4)}"
    yield name
    import redis  # the redis extra: only the tests that use Redis need it

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="module")
def janus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JanusServer]:
    """Debian's Janus on free local ports with a configuration ``visitt janus-config`` wrote (tests/janus.py),
    once per test module."""
    server = JanusServer(tmp_path_factory.mktemp("janus"))
    server.start()
    yield server
    server.stop()


TIMINGS = os.environ.get("VISITT_TEST_TIMINGS", "")


def _cpu_seconds() -> float:
    """CPU time of this process and of the processes it has reaped (servers, Chromium once closed)."""
    own, reaped = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    """With VISITT_TEST_TIMINGS=FILE: a line per test appended to FILE as it finishes (node id, wall
    seconds, CPU seconds, the load average, the pytest-xdist worker or "main"), setup and teardown
    included (docs/architecture.md#tests)."""
    if not TIMINGS:
        yield
        return
    wall, cpu = time.monotonic(), _cpu_seconds()
    yield
    with open(TIMINGS, "a") as timings:
        timings.write(f"{item.nodeid}\t{time.monotonic() - wall:.2f}\t{_cpu_seconds() - cpu:.2f}"
                      f"\t{os.getloadavg()[0]:.1f}\t{os.environ.get('PYTEST_XDIST_WORKER', 'main')}\n")
