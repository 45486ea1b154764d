"""Liveness and readiness for load balancers and orchestrators: ``/healthz`` and ``/readyz``.

``/healthz`` says the process answers. ``/readyz`` says this node can serve: the database answers
``SELECT 1`` within two seconds and its schema is at the newest migration this code knows, and,
with several nodes, Redis answers (``visitt.live.cluster``). A
node that is not ready answers 503 with the API's error shape, code ``not_ready``.
"""

from __future__ import annotations

import asyncio
import logging

from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import inspect, text

from visitt.store.db import MIGRATIONS, Database
from visitt.errors import describe

log = logging.getLogger("visitt.health")
router = APIRouter(include_in_schema=False)
READY_TIMEOUT = 2.0


def head_revision() -> str | None:
    """The newest Alembic revision shipped with this code."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


class Readiness:
    """Checks the database for ``/readyz``.

    One check runs at a time: probes that arrive while the database is slow wait for the check
    in flight instead of each tying up a thread of their own.
    """

    def __init__(self, database: Database, *, timeout: float = READY_TIMEOUT) -> None:
        self.database = database
        self.timeout = timeout
        self.head = head_revision()
        self.last_problem: str | None = None
        self._check: asyncio.Future[str | None] | None = None

    def _probe(self) -> str | None:
        try:
            with self.database.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                current = (connection.scalar(text("SELECT version_num FROM alembic_version"))
                           if inspect(connection).has_table("alembic_version") else None)
        except Exception as error:  # the message can name hosts and users: the log gets the type only
            log.warning("readiness: database check failed: %s", describe(error))
            return "the database is not reachable"
        if current != self.head:
            return f"the database schema is at revision {current}; this version of Visitt needs {self.head}"
        return None

    async def problem(self) -> str | None:
        """None when this node is ready, else why not, in one sentence."""
        if self._check is None or self._check.done():
            self._check = asyncio.ensure_future(asyncio.to_thread(self._probe))
        try:
            problem = await asyncio.wait_for(asyncio.shield(self._check), self.timeout)
        except TimeoutError:
            problem = f"the database did not answer within {self.timeout:g} s"
        if problem != self.last_problem:  # log changes, not every probe
            if problem:
                log.warning("not ready: %s", problem)
            else:
                log.info("ready")
            self.last_problem = problem
        return problem


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> dict[str, str] | JSONResponse:
    problem = await request.app.state.readiness.problem() or await request.app.state.cluster.problem()
    if problem:
        return JSONResponse({"error": {"code": "not_ready", "message": problem}}, status_code=503)
    return {"status": "ready"}
