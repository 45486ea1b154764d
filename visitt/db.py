"""Engine, sessions and migrations. The session is passed in, never global.

When the database goes away, the driver's errors are turned into one typed error,
:class:`~visitt.errors.ServiceUnavailable`, at the edges (:func:`outage`); the pool tests each
connection before use, so everything resumes by itself once the database is back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

from .errors import ServiceUnavailable
from .settings import Settings

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
