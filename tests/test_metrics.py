"""Prometheus metrics (visitt/metrics.py): scraped from a live server while a consultation happens."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from dataclasses import replace
from pathlib import Path

import httpx

from visitt import outbox
from visitt.metrics import CONTENT_TYPE, Histogram
from visitt.models import OutboxMessage, OutboxState, utcnow
from visitt.settings import Settings
from visitt.testing import LiveServer

from .conftest import make_settings
from .peers import WsClient, book, run, staff_login
from .serve import ServeProcess

SAMPLE = re.compile(r'^([a-z_]+)(\{le="([^"]+)"\})? (\S+)$')


def scrape(server: LiveServer, **headers: str) -> dict[str, float]:
    """``{"name" or "name{le}": value}``, checking every line is a comment or a well-formed sample."""
    response = httpx.get(f"{server.url}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPE
    samples: dict[str, float] = {}
    for line in response.text.splitlines():
        if line.startswith("# "):
            assert re.match(r"^# (HELP|TYPE) visitt_[a-z_]+ \S", line), line
            continue
        match = SAMPLE.match(line)
        assert match, line
        name, _, le, value = match.groups()
        samples[f"{name}{{{le}}}" if le else name] = float(value)
    return samples


def test_gauges_follow_a_consultation_and_admits_are_timed(server: LiveServer) -> None:
    _, token = book(server)
    cookie = staff_login(server)
    assert scrape(server)["visitt_connected_participants"] == 0

    async def consultation() -> list[dict[str, float]]:
        seen = []
        async with await WsClient.guest(server, token) as patient, await WsClient.staff(server, cookie) as host:
            await patient.hello()
            await host.hello()
            await patient.send({"type": "knock", "name": "Kari Nordmann"})
            knock = await host.expect("knock")
            seen.append(await asyncio.to_thread(scrape, server))
            await asyncio.sleep(0.3)
            await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})
            await patient.expect("admitted")
            seen.append(await asyncio.to_thread(scrape, server))
        return seen

    waiting, in_call = run(consultation())
    assert (waiting["visitt_connected_participants"], waiting["visitt_waiting_participants"],
            waiting["visitt_active_rooms"], waiting["visitt_knock_to_admit_seconds_count"]) == (2, 1, 1, 0)
    assert (in_call["visitt_connected_participants"], in_call["visitt_waiting_participants"],
            in_call["visitt_active_rooms"], in_call["visitt_knock_to_admit_seconds_count"]) == (2, 0, 1, 1)
    assert 0.3 <= in_call["visitt_knock_to_admit_seconds_sum"] < 5
    assert in_call["visitt_knock_to_admit_seconds_bucket{1}"] == 1
    assert in_call["visitt_knock_to_admit_seconds_bucket{+Inf}"] == 1
    deadline = time.monotonic() + 5  # the server sees the sockets close a moment after the clients
    # ... and a dropped participant keeps the room for the reconnection grace
    while ((after := scrape(server))["visitt_connected_participants"] or after["visitt_active_rooms"]) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (after["visitt_connected_participants"], after["visitt_active_rooms"]) == (0, 0)


def test_sms_queue_depth_and_failures_come_from_the_outbox(server: LiveServer) -> None:
    later = utcnow() + dt.timedelta(hours=1)
    with server.database.session() as session:
        for number in range(3):  # waiting for a retry: pending, not yet due
            message = outbox.enqueue(session, recipient=f"+47412345{number:02d}", body="x")
            message.next_attempt_at = later
        session.add(OutboxMessage(channel="sms", recipient="+4741234599", body="x", state=OutboxState.failed))
    samples = scrape(server)
    assert samples["visitt_sms_queue_depth"] == 3
    assert samples["visitt_sms_failed_total"] == 1
    assert samples["visitt_database_reachable"] == 1


def test_visitt_serve_keeps_metrics_closed_unless_told_otherwise(tmp_path: Path) -> None:
    """No token and no VISITT_METRICS_OPEN: nobody can scrape. VISITT_METRICS_OPEN=true opens it."""
    assert Settings.from_env({}).metrics_open is False
    assert Settings.from_env({"VISITT_METRICS_OPEN": "true"}).metrics_open is True
    (tmp_path / "a").mkdir()
    node = ServeProcess(tmp_path / "a", email="lege@example.no", name="Lege Legesen", VISITT_METRICS_OPEN="").start()
    try:
        closed = httpx.get(f"{node.url}/metrics")
        assert closed.status_code == 403 and closed.json()["error"]["code"] == "metrics_closed"
        assert "visitt_" not in closed.text
        assert httpx.get(f"{node.url}/metrics", headers={"Authorization": "Bearer guess"}).status_code == 403
    finally:
        node.stop()
    (tmp_path / "b").mkdir()
    node = ServeProcess(tmp_path / "b", email="lege@example.no", name="Lege Legesen",
                        VISITT_METRICS_OPEN="true").start()
    try:
        assert "visitt_active_rooms" in httpx.get(f"{node.url}/metrics").text
    finally:
        node.stop()


def test_a_metrics_token_is_required_when_configured(tmp_path: Path) -> None:
    live = LiveServer(replace(make_settings(tmp_path), metrics_token="s3cret-scrape")).start()
    try:
        refused = httpx.get(f"{live.url}/metrics")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "not_authenticated"
        assert httpx.get(f"{live.url}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert "visitt_active_rooms" in scrape(live, Authorization="Bearer s3cret-scrape")
    finally:
        live.stop()


def test_histogram_buckets_are_cumulative() -> None:
    histogram = Histogram("visitt_test_seconds", "A test.", [1, 10])
    for value in (0.5, 1, 3, 30):
        histogram.observe(value)
    assert histogram.render()[2:] == [
        'visitt_test_seconds_bucket{le="1"} 2', 'visitt_test_seconds_bucket{le="10"} 3',
        'visitt_test_seconds_bucket{le="+Inf"} 4', "visitt_test_seconds_sum 34.5", "visitt_test_seconds_count 4"]
