"""Prometheus metrics at ``/metrics``, rendered by ``prometheus_client``.

Gauges are read at scrape time from what the node holds - the live hub, the open signaling
sockets - and from the outbox table; the one histogram, knock → admit, is fed by the hub. Every
figure is a count or a duration: no names, numbers or ids. A scrape must send
``Authorization: Bearer <VISITT_METRICS_TOKEN>``; without a token set, ``/metrics`` answers no one
unless ``VISITT_METRICS_OPEN`` says the node's port is private.

Each app has its own :class:`prometheus_client.CollectorRegistry` (never the process-wide default
one), so several servers in one process - the tests start many - keep their figures apart.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select

from visitt.store.db import Database
from visitt.errors import describe
from visitt.live.hub import Hub
from visitt.store.models import OutboxMessage, OutboxState

log = logging.getLogger("visitt.metrics")
router = APIRouter(include_in_schema=False)
CONTENT_TYPE = CONTENT_TYPE_LATEST
DATABASE_TIMEOUT = 2.0
# A patient who opens the link early waits minutes; the buckets reach an hour.
KNOCK_TO_ADMIT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class Figures:
    """What one scrape read from the node and the database (``outbox`` is None if the database did not answer)."""

    connected: int
    waiting: int
    active_rooms: int
    outbox: dict[OutboxState, int] | None


class _NodeCollector:
    """A custom collector (``prometheus_client``'s documented ``collect()`` protocol) for the gauges,
    which are read at scrape time rather than kept up to date."""

    def __init__(self) -> None:
        self.figures: Figures | None = None

    def collect(self) -> Iterator[Metric]:
        figures = self.figures
        if figures is None:
            return
        yield GaugeMetricFamily("visitt_connected_participants",
                                "Signaling sockets open on this node: patients, other guests and clinicians.",
                                value=figures.connected)
        yield GaugeMetricFamily("visitt_waiting_participants",
                                "People in a waiting room on this node, knocked and not yet admitted.",
                                value=figures.waiting)
        yield GaugeMetricFamily("visitt_active_rooms", "Rooms on this node with someone in the call or waiting.",
                                value=figures.active_rooms)
        if figures.outbox is not None:  # the figures that need the database are left out of this scrape
            yield GaugeMetricFamily("visitt_sms_queue_depth",
                                    "SMS in the outbox waiting to be sent (retries included).",
                                    value=figures.outbox.get(OutboxState.pending, 0))
            # the family is named without _total; the sample is visitt_sms_failed_total
            yield CounterMetricFamily("visitt_sms_failed", "SMS the outbox gave up on (rows marked failed).",
                                      value=figures.outbox.get(OutboxState.failed, 0))
        yield GaugeMetricFamily("visitt_database_reachable",
                                "1 if this scrape could read the database within 2 s, else 0.",
                                value=0 if figures.outbox is None else 1)


class Metrics:
    """One node's metrics (``app.state.metrics``): its own registry, the histogram it keeps, the gauges it reads."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.registry = CollectorRegistry()
        self._node = _NodeCollector()
        self.registry.register(self._node)
        self.knock_to_admit = Histogram(
            "visitt_knock_to_admit_seconds",
            "Time from a patient's knock to the clinician's admit, for admits by a clinician on this node.",
            buckets=KNOCK_TO_ADMIT_BUCKETS, registry=self.registry)

    def _outbox_counts(self) -> dict[OutboxState, int]:
        with self.database.session() as session:
            rows = session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state))
            return {state: count for state, count in rows}

    async def exposition(self, hub: Hub, connected: int) -> bytes:
        """The text a scrape gets."""
        waiting = sum(len(room.waiting) for room in hub.rooms.values())
        active = sum(1 for room in hub.rooms.values() if room.in_call or room.waiting)
        counts: dict[OutboxState, int] | None
        try:
            counts = await asyncio.wait_for(asyncio.to_thread(self._outbox_counts), DATABASE_TIMEOUT)
        except Exception as error:
            log.warning("metrics: outbox counts unavailable: %s", describe(error))
            counts = None
        # No await between setting the figures and rendering them: a concurrent scrape cannot interleave.
        self._node.figures = Figures(connected, waiting, active, counts)
        return generate_latest(self.registry)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    state = request.app.state
    token: str = state.settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return JSONResponse({"error": {"code": "not_authenticated",
                                           "message": "Send the metrics token: Authorization: Bearer <token>."}},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
    elif not state.settings.metrics_open:
        return JSONResponse({"error": {"code": "metrics_closed",
                                       "message": "Set VISITT_METRICS_TOKEN to scrape /metrics (or VISITT_METRICS_OPEN=true "
                                                  "on a node whose port is private)."}}, status_code=403)
    text = await state.metrics.exposition(state.hub, len(state.connections))
    return Response(text, media_type=CONTENT_TYPE)
