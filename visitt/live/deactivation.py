"""A deactivated staff member's live sockets are closed within a second, on every node.

Deactivation (:func:`visitt.accounts.deactivate`) is written to the database by whichever process
made it - a node answering the admin console or the API, or ``visitt users deactivate`` on the
command line, which has no bus to post on. So the news travels through the database, the one thing
every node and the command line share: each node asks, every :data:`WATCH_SECONDS` while staff
sockets are open on it, whether any of their accounts has been deactivated, and closes those
sockets with :data:`CLOSE_DEACTIVATED` (``docs/protocol.md``). A relayed socket is closed at its
edge, so the node holding the room hears it as any other close. The question is one indexed query
of the open sockets' account ids, and none at all while no staff socket is open.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select

from visitt.errors import describe
from visitt.store.db import Database, outage
from visitt.store.models import Staff

log = logging.getLogger("visitt.deactivation")
WATCH_SECONDS = 0.25
CLOSE_DEACTIVATED = 4003  # docs/protocol.md: the staff member's account was deactivated


def _deactivated(database: Database, staff_ids: set[int]) -> set[int]:
    with database.session() as session:
        return set(session.scalars(select(Staff.id).where(Staff.id.in_(staff_ids), Staff.active.is_(False))))


def close_sockets(state: Any, staff_ids: set[int]) -> int:
    """Close this node's sockets of ``staff_ids`` (their own and as co-host); how many."""
    closing = [connection for connection in list(state.connections.open)
               if connection.staff_id in staff_ids and not connection.closing]
    for connection in closing:
        connection.close(CLOSE_DEACTIVATED, "account deactivated")
    return len(closing)


async def watch(state: Any, interval: float = WATCH_SECONDS) -> None:
    """Run on every node for as long as it serves (``visitt.app``'s lifespan)."""
    while True:
        await asyncio.sleep(interval)
        staff_ids = {connection.staff_id for connection in list(state.connections.open)
                     if connection.staff_id is not None}
        if not staff_ids:
            continue
        try:
            gone = await asyncio.to_thread(_deactivated, state.database, staff_ids)
        except Exception as error:  # the database away for a moment: ask again next time
            if outage(error) is None:
                log.error("deactivation watch failed: %s", describe(error))
            continue
        if gone and (closed := close_sockets(state, gone)):
            log.info("closed %d sockets of %d deactivated accounts", closed, len(gone))
