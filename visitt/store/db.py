"""Engine, sessions and migrations. The session is passed in, never global.

When the database goes away, the driver's errors are turned into one typed error,
:class:`~visitt.errors.ServiceUnavailable`, at the edges (:func:`outage`); the pool tests each
connection before use (the hub's writer, :class:`GroupCommit`, tries a closed one's transaction
again on a new one), so everything resumes by itself once the database is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Executable, create_engine, event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from visitt.errors import ServiceUnavailable
from visitt.settings import Settings

T = TypeVar("T")
MIGRATIONS = Path(__file__).parent / "migrations"
CONNECT_TIMEOUT = 5  # seconds to open a connection to PostgreSQL: a request waits no longer for a silent server


class Database:
    """One engine and its session factory for the whole process."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=10,
                                        connect_args={"connect_timeout": CONNECT_TIMEOUT})
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        write_later_on(self.sessions)  # this application's sessions only, the hub's too (GroupCommit)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Database":
        if not settings.database_url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.effective_database_url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends normally, rolled back otherwise."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def upgrade(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()


@dataclass
class Unit:
    work: Callable[[Session], Any]
    locks: Any  # what ``work`` changes, for the group's ``prepare`` (a participant's row id, say)
    future: asyncio.Future[Any]


class GroupCommit:
    """Units of work from many coroutines, written together: one transaction for all that arrive
    while the previous one is being written (group commit).

    A unit is a function of a session (``work(session, *args)``) that checks, changes and audits.
    With little traffic each unit has a transaction of its own and waits for nothing; under load
    the units queue up behind the one being written and go in the next transaction together, so
    a knock costs a fraction of a commit. A batch is all or nothing: if one
    unit fails, each is run again alone, so only that unit fails. When the database cannot be
    reached every unit of the batch gets that error, the others are not tried one by one.

    ``prepare(session, locks)`` runs first in each transaction with what its units said they
    change (``run(..., locks=...)``): one statement that locks and reads the rows for all of them
    (:func:`visitt.rooms.lock_participants` keeps them on the session for the units).

    SQLite's transactions run in a thread (``sqlite3`` has no asyncio). PostgreSQL's run on the
    event loop, on a connection of their own (psycopg's asyncio connection, through SQLAlchemy's
    greenlets), made in the loop that first writes; :meth:`close` lets it go. From a thread, each
    of a transaction's six round trips waited for the GIL on its way back, up to the interpreter's
    switch interval (5 ms) behind the busy loop: 96.7 ms p50 at 1,000 knocks a second, 23.3 ms
    from the loop (``docs/performance.md``).
    """

    def __init__(self, database: Database, prepare: Callable[[Session, list[Any]], Any] | None = None) -> None:
        self.database = database
        self.prepare = prepare
        self.pending: list[Unit] = []
        self.writer: asyncio.Task[None] | None = None
        self.engine: AsyncEngine | None = None  # PostgreSQL's, once it has written

    async def run(self, work: Callable[..., T], *args: Any, locks: Any = None, **kwargs: Any) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.pending.append(Unit(lambda session: work(session, *args, **kwargs), locks, future))
        if self.writer is None:
            self.writer = asyncio.create_task(self._write())
        return await future

    async def __aenter__(self) -> "GroupCommit":
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Let the transaction being written finish (its callers may have gone), then the connection go."""
        if self.writer is not None:
            await asyncio.gather(self.writer, return_exceptions=True)
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None

    async def _write(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                outcomes = await self._commit(batch)
                for unit, (failed, value) in zip(batch, outcomes, strict=True):
                    if unit.future.done():  # its caller was cancelled; the unit was written all the same
                        continue
                    if failed:
                        unit.future.set_exception(value)
                    else:
                        unit.future.set_result(value)
        finally:
            self.writer = None

    async def _commit(self, units: list[Unit]) -> list[tuple[bool, Any]]:
        """Each unit's outcome: (False, its result) or (True, the error it raised)."""
        if len(units) > 1:
            try:
                return [(False, result) for result in await self._transaction(units)]
            except Exception as error:
                if outage(error) is not None:
                    return [(True, error)] * len(units)
        outcomes: list[tuple[bool, Any]] = []
        for unit in units:
            try:
                outcomes.append((False, (await self._transaction([unit]))[0]))
            except Exception as error:
                outcomes.append((True, error))
        return outcomes

    async def _transaction(self, units: list[Unit]) -> list[Any]:
        if self.database.engine.dialect.name == "sqlite":  # sqlite3 has no asyncio: a thread
            return await asyncio.to_thread(self._in_session, units)
        if self.engine is None:
            # No ping before each transaction (a round trip of its own): a connection found closed is
            # replaced when its first statement fails (below).
            self.engine = create_async_engine(self.database.url, pool_size=1, max_overflow=0, pool_timeout=10,
                                              connect_args={"connect_timeout": CONNECT_TIMEOUT})
        return await self._in_async_session(units, again=True)

    async def _in_async_session(self, units: list[Unit], again: bool) -> list[Any]:
        # The proxied session comes from the application's own factory, with its unit-of-work events.
        # ``sync_session_class`` takes "a Session subclass or other callable" (SQLAlchemy's documentation);
        # its annotation names only the class.
        async with AsyncSession(self.engine, expire_on_commit=False,
                                sync_session_class=cast(type[Session], self.database.sessions)) as session:
            try:
                results = await session.run_sync(self._work, units)
                await session.commit()
                return results
            except exc.DBAPIError as error:
                # The server closed the connection while it waited (a restart, an idle timeout) and a
                # statement failed: nothing is written, so once more on a new connection. A failed
                # COMMIT (no statement) may have been written: that is reported, not repeated.
                if not (again and error.connection_invalidated and error.statement is not None):
                    raise
        return await self._in_async_session(units, again=False)

    def _in_session(self, units: list[Unit]) -> list[Any]:
        with self.database.session() as session:
            return self._work(session, units)

    def _work(self, session: Session, units: list[Unit]) -> list[Any]:
        # Units of different rooms never read each other's changes: one flush, at the commit.
        with session.no_autoflush:
            locks = [unit.locks for unit in units if unit.locks is not None]
            if locks and self.prepare is not None:
                self.prepare(session, locks)
            return [unit.work(session) for unit in units]


LATER = "visitt.later"  # session.info: statement → the parameters queued for it (:func:`later`)
Rows = list[dict[str, Any]]


@dataclass(frozen=True, eq=False)
class Deferred:
    """A statement for :func:`later`, built once (a module constant: it is the key its runs are
    gathered under), with its own way to write many rows at once on PostgreSQL, where it has one.

    ``many(rows)`` gives one statement and its parameters for all the rows. psycopg runs an
    ``executemany`` as one execution per row in a pipeline; with hundreds of rows in a transaction
    those took half of the hub's database time. The rows go as one JSON text
    (``json_to_recordset``): psycopg turns a Python list into an array element by element, in
    Python, and that was a sixth of the worker's CPU at 1,000 knocks a second. SQLite runs an
    ``executemany`` in C and keeps it.
    """

    statement: Executable
    many: Callable[[Rows], tuple[Executable, dict[str, Any]]] | None = field(default=None, kw_only=True)


def int_array(numbers: Iterable[int]) -> str:
    """``numbers`` as a PostgreSQL array literal, for ``CAST(:ids AS integer[])``: one text
    parameter, where a list would be converted element by element."""
    return "{" + ",".join(str(int(number)) for number in numbers) + "}"


def later(session: Session, deferred: Deferred, params: dict[str, Any]) -> None:
    """Queue ``deferred``'s statement to run with ``params`` after the session's next flush, or just
    before its commit, together with every other run queued for the same :class:`Deferred`: one
    ``executemany`` for all (a group commit holds hundreds of moves and audit rows), or its
    ``many`` form on PostgreSQL, one round trip to the server. Queued runs go in the order their
    statements were first queued. The session must come from :attr:`Database.sessions`, whose
    events run the queue (:func:`write_later_on`)."""
    session.info.setdefault(LATER, {}).setdefault(deferred, []).append(params)


def run_later(session: Session) -> None:
    """Run what :func:`later` queued on ``session``, now."""
    queued: dict[Deferred, Rows] | None = session.info.pop(LATER, None)
    if queued:
        connection = session.connection()  # on the connection: no flush inside a flush
        at_once = connection.dialect.name == "postgresql"
        for deferred, rows in queued.items():
            if at_once and len(rows) > 1 and deferred.many is not None:
                connection.execute(*deferred.many(rows))
            else:
                connection.execute(deferred.statement, rows)


def _after_flush(session: Session, _context: Any) -> None:
    run_later(session)


def _before_commit(session: Session) -> None:
    session.flush()  # the session's own changes first: a queued row may name one (a room made in the same unit)
    run_later(session)


def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(LATER, None)


def write_later_on(sessions: sessionmaker[Session]) -> None:
    """Have the sessions ``sessions`` makes run what :func:`later` queued: after each flush and
    before the commit, and forget it on a rollback. Listeners on this factory only (a documented
    event target), not on every ``Session`` of the process."""
    event.listen(sessions, "after_flush", _after_flush)
    event.listen(sessions, "before_commit", _before_commit)
    event.listen(sessions, "after_soft_rollback", _after_rollback)


def outage(error: BaseException) -> ServiceUnavailable | None:
    """The typed error for ``error`` if it means the database cannot be reached, else None.

    A refused or timed-out connection is an ``OperationalError``; a connection that broke under
    a statement is marked ``connection_invalidated``; a pool with every connection stuck waiting
    on a silent server times out. Other database errors (a constraint, a bad statement) are bugs
    or conflicts, not outages.
    """
    if isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)):
        return ServiceUnavailable()
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return ServiceUnavailable()
    return None


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
