"""PostgreSQL and Redis for the tests, on a machine that runs neither.

The tests use the PostgreSQL and Redis that ``VISITT_TEST_POSTGRES`` and ``VISITT_TEST_REDIS`` name
(by default the machine's own, at 127.0.0.1:5432 and :6379). Where such a URL names this machine and
nothing there takes a connection, :func:`postgres` and :func:`redis` start private servers instead,
as the tests start coturn and nginx: Debian's binaries (``make test`` installs the packages
``postgresql`` and ``redis-server`` when they are missing), free loopback ports, their files in a
temporary directory, stopped and removed when the tests end. PostgreSQL refuses to run as root, so
as root (CI) it runs as the ``postgres`` user the Debian package creates, or as ``nobody``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis as redis_client
import sqlalchemy

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
START_TIMEOUT = 60.0  # seconds; initdb alone takes a few on a busy machine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _postgres_works(url: str) -> bool:
    """Whether ``url`` (SQLAlchemy's form) gives a connection: a PostgreSQL that answers but turns
    this user away (a fresh Debian cluster asks for a password) counts as none."""
    parts = sqlalchemy.make_url(url)
    try:
        psycopg.connect(host=parts.host, port=parts.port or 5432, user=parts.username, password=parts.password,
                        dbname=parts.database, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


def _redis_works(url: str) -> bool:
    client = redis_client.Redis.from_url(url, socket_connect_timeout=3)
    try:
        return bool(client.ping())
    except redis_client.RedisError:
        return False
    finally:
        client.close()


def _binary(name: str, package: str) -> str:
    """Debian keeps PostgreSQL's programs in /usr/lib/postgresql/<version>/bin, off the PATH."""
    found = shutil.which(name)
    if found is None:
        versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                          key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0)
        found = str(versions[-1]) if versions else None
    if found is None:
        raise RuntimeError(f"{name} is missing: apt-get install -y {package} (make test installs it)")
    return found


def _unprivileged() -> pwd.struct_passwd | None:
    """The user to run PostgreSQL as: None (this one) unless this is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root with neither a postgres nor a nobody user to run PostgreSQL as")


def _wait(ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            output = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"the tests' own {what} did not start:\n{output}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes], how: int) -> None:
    if process.poll() is None:
        process.send_signal(how)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def postgres(url: str) -> Iterator[str]:
    """The admin URL to use: ``url`` if it works or is not on this machine, else a private server's."""
    host = sqlalchemy.make_url(url).host or "127.0.0.1"
    if host not in LOOPBACK or _postgres_works(url):
        yield url
        return
    user = _unprivileged()
    directory = Path(tempfile.mkdtemp(prefix="visitt-test-postgres-"))
    log = directory / "postgres.log"
    try:
        uid, gid = (user.pw_uid, user.pw_gid) if user is not None else (None, None)
        groups: list[int] | None = [] if user is not None else None
        if user is not None:
            os.chown(directory, user.pw_uid, user.pw_gid)
        data = directory / "data"
        made = subprocess.run([_binary("initdb", "postgresql"), "--pgdata", str(data), "--username", "postgres",
                               "--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync"],
                              cwd=directory, capture_output=True, text=True, timeout=120, user=uid, group=gid,
                              extra_groups=groups)
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed for the tests' own PostgreSQL:\n{made.stderr[-2000:]}")
        port = free_port()
        with log.open("wb") as output:
            # durability is no concern for a test database that is removed at the end
            process = subprocess.Popen(
                [_binary("postgres", "postgresql"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
                 "-k", str(directory), "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200"],
                cwd=directory, stdout=output, stderr=subprocess.STDOUT, user=uid, group=gid, extra_groups=groups)
        private = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        try:
            _wait(lambda: _postgres_works(private), process, "PostgreSQL", log)
            yield private
        finally:
            _stop(process, signal.SIGINT)  # PostgreSQL's fast shutdown: open sessions are ended
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def redis(url: str) -> Iterator[str]:
    """The Redis URL to use: ``url`` if it works or is not on this machine, else a private server's."""
    host = urlsplit(url).hostname or "127.0.0.1"
    if host not in LOOPBACK or _redis_works(url):
        yield url
        return
    directory = Path(tempfile.mkdtemp(prefix="visitt-test-redis-"))
    log = directory / "redis.log"
    try:
        port = free_port()
        with log.open("wb") as output:
            process = subprocess.Popen(
                [_binary("redis-server", "redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(directory)],
                cwd=directory, stdout=output, stderr=subprocess.STDOUT)
        private = f"redis://127.0.0.1:{port}/0"
        try:
            _wait(lambda: _redis_works(private), process, "Redis", log)
            yield private
        finally:
            _stop(process, signal.SIGTERM)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
