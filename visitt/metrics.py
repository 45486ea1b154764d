"""Prometheus metrics at ``/metrics``, in the text exposition format (version 0.0.4).

Gauges are read at scrape time from what the node holds - the live hub, the open signaling
sockets - and from the outbox table; the one histogram, knock → admit, is fed by the hub. Every
figure is a count or a duration: no names, numbers or ids. A scrape must send
``Authorization: Bearer <VISITT_METRICS_TOKEN>``; without a token set, ``/metrics`` answers no one
unless ``VISITT_METRICS_OPEN`` says the node's port is private.
"""

from __future__ import annotations

import asyncio
import bisect
import hmac
import logging
import math
from collections.abc import Sequence

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select

from .db import Database
from .errors import describe
from .hub import Hub
from .models import OutboxMessage, OutboxState

log = logging.getLogger("visitt.metrics")
router = APIRouter(include_in_schema=False)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DATABASE_TIMEOUT = 2.0
# A patient who opens the link early waits minutes; the buckets reach an hour.
KNOCK_TO_ADMIT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _family(name: str, kind: str, help: str, samples: Sequence[tuple[str, float]]) -> list[str]:
    return [f"# HELP {name} {help}", f"# TYPE {name} {kind}", *(f"{s} {_number(v)}" for s, v in samples)]


class Histogram:
    """Observations counted into fixed, cumulative ``le`` buckets, with their sum and count."""

    def __init__(self, name: str, help: str, buckets: Sequence[float]) -> None:
        self.name, self.help = name, help
        self.bounds = sorted(buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def render(self) -> list[str]:
        samples: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip([*self.bounds, math.inf], self.counts):
            running += count
            samples.append((f'{self.name}_bucket{{le="{_number(bound)}"}}', running))
        samples += [(f"{self.name}_sum", self.sum), (f"{self.name}_count", self.count)]
        return _family(self.name, "histogram", self.help, samples)


class Metrics:
    """One node's metrics (``app.state.metrics``): the histogram it keeps, the gauges it reads."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.knock_to_admit = Histogram(
            "visitt_knock_to_admit_seconds",
            "Time from a patient's knock to the clinician's admit, for admits by a clinician on this node.",
            KNOCK_TO_ADMIT_BUCKETS)

    def _outbox_counts(self) -> dict[OutboxState, int]:
        with self.database.session() as session:
            rows = session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state))
            return {state: count for state, count in rows}

    async def exposition(self, hub: Hub, connected: int) -> str:
        """The text a scrape gets."""
        waiting = sum(len(room.waiting) for room in hub.rooms.values())
        active = sum(1 for room in hub.rooms.values() if room.in_call or room.waiting)
        lines = [
            *_family("visitt_connected_participants", "gauge",
                     "Signaling sockets open on this node: patients, other guests and clinicians.", [
                         ("visitt_connected_participants", connected)]),
            *_family("visitt_waiting_participants", "gauge",
                     "People in a waiting room on this node, knocked and not yet admitted.", [
                         ("visitt_waiting_participants", waiting)]),
            *_family("visitt_active_rooms", "gauge",
                     "Rooms on this node with someone in the call or waiting.", [("visitt_active_rooms", active)]),
            *self.knock_to_admit.render(),
        ]
        try:
            counts = await asyncio.wait_for(asyncio.to_thread(self._outbox_counts), DATABASE_TIMEOUT)
        except Exception as error:  # the figures that need the database are left out of this scrape
            log.warning("metrics: outbox counts unavailable: %s", describe(error))
            reachable = 0
        else:
            reachable = 1
            lines += [
                *_family("visitt_sms_queue_depth", "gauge", "SMS in the outbox waiting to be sent (retries included).",
                         [("visitt_sms_queue_depth", counts.get(OutboxState.pending, 0))]),
                *_family("visitt_sms_failed_total", "counter", "SMS the outbox gave up on (rows marked failed).",
                         [("visitt_sms_failed_total", counts.get(OutboxState.failed, 0))]),
            ]
        lines += _family("visitt_database_reachable", "gauge",
                         "1 if this scrape could read the database within 2 s, else 0.",
                         [("visitt_database_reachable", reachable)])
        return "\n".join(lines) + "\n"


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
