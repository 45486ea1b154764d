"""Prometheus metrics (visitt/ops/metrics.py): scraped from a live server while a consultation happens."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from visitt.messaging import outbox
from visitt.store.models import OutboxMessage, OutboxState, utcnow
from visitt.testing import InProcess, LiveServer

from .conftest import make_settings, settings_from
from .peers import WsClient, book, run, staff_login
from .serve import ServeProcess

OPERATIONS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


def families(server: LiveServer, **headers: str) -> dict[str, str]:
    """``{metric name: type}`` of one scrape, read by prometheus_client's own parser (a counter under its
    sample name, ``..._total``)."""
    response = server.get(f"{server.url}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {family.name + ("_total" if family.type == "counter" else ""): family.type
            for family in text_string_to_metric_families(response.text)}


def scrape(server: LiveServer, **headers: str) -> dict[str, float]:
    """``{"name" or "name{le}": value}`` of one scrape, parsed by prometheus_client's parser."""
    response = server.get(f"{server.url}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        assert family.documentation, family.name  # every metric says what it means
        for sample in family.samples:
            key = sample.name
            if "le" in sample.labels:  # le="1.0" -> name{1}, le="+Inf" -> name{+Inf}
                key += "{" + format(float(sample.labels["le"]), "g").replace("inf", "+Inf") + "}"
            samples[key] = sample.value
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


@pytest.mark.in_process
def test_sms_queue_depth_and_failures_come_from_the_outbox(server: InProcess) -> None:
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


def test_visitt_serve_keeps_metrics_closed_unless_told_otherwise(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """No token and no VISITT_METRICS_OPEN: nobody can scrape. VISITT_METRICS_OPEN=true opens it."""
    assert settings_from(monkeypatch).metrics_open is False
    assert settings_from(monkeypatch, VISITT_METRICS_OPEN="true").metrics_open is True
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
    live = InProcess(make_settings(tmp_path).but(metrics_token="s3cret-scrape")).start()
    try:
        refused = live.get(f"{live.url}/metrics")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "not_authenticated"
        assert live.get(f"{live.url}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert "visitt_active_rooms" in scrape(live, Authorization="Bearer s3cret-scrape")
    finally:
        live.stop()


@pytest.mark.in_process
def test_the_metrics_served_are_the_ones_documented(server: InProcess) -> None:
    # the table in docs/operations.md: | `name` | type | meaning |
    documented = dict(re.findall(r"^\| `(visitt_[a-z_]+)` +\| (\w+) +\|", OPERATIONS.read_text(), re.MULTILINE))
    assert families(server) == documented


def test_two_servers_in_one_process_keep_their_own_figures(server: LiveServer, tmp_path: Path) -> None:
    other = LiveServer(make_settings(tmp_path / "other")).start()
    try:
        _, token = book(server)

        async def knock() -> tuple[dict[str, float], dict[str, float]]:
            async with await WsClient.guest(server, token) as patient:
                await patient.hello()
                await patient.send({"type": "knock", "name": "Kari Nordmann"})
                deadline = time.monotonic() + 5
                while (here := await asyncio.to_thread(scrape, server))["visitt_waiting_participants"] != 1 \
                        and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                return here, await asyncio.to_thread(scrape, other)

        here, there = run(knock())
        assert (here["visitt_connected_participants"], here["visitt_waiting_participants"]) == (1, 1)
        assert (there["visitt_connected_participants"], there["visitt_waiting_participants"]) == (0, 0)
    finally:
        other.stop()
