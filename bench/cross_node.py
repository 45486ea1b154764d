"""What a second node costs: knock → clinician notified, on one node and across two nodes with Redis.

    python bench/cross_node.py [--patients 50] [--knocks 2000] [--rate 200]

Starts two ``visitt serve`` processes on a fresh PostgreSQL database and one Redis (127.0.0.1),
signs a clinician's dashboard in on node A, and connects ``--patients`` patients' sockets, first
to node A (same node) and then to node B (relayed to A through Redis). Patients knock at
``--rate`` knocks a second in all, each leaving again once the clinician has been told; the time
from sending the knock to the dashboard receiving it is measured for every knock. Prints p50/p99
for both and the difference, and rewrites its section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import percentile, write_section  # noqa: E402
from tests.conftest import PG_ADMIN_URL  # noqa: E402
from tests.peers import staff_login  # noqa: E402
from tests.serve import STAFF_PASSWORD, ServeProcess  # noqa: E402

EMAIL = "lege.legesen@sykehuset.example"


async def _reader(socket: Any, on_message: Any) -> None:
    async for text in socket:
        message = json.loads(text)
        if message["type"] == "ping":
            await socket.send('{"type":"pong"}')
        on_message(message)


async def measure(host_url: str, patient_url: str, cookie: str, tokens: list[str], knocks: int,
                  rate: float) -> list[float]:
    """Knock→notified latencies (ms) with the dashboard on ``host_url`` and the patients on ``patient_url``."""
    told: dict[str, asyncio.Future[float]] = {}

    def on_host(message: dict[str, Any]) -> None:
        if message["type"] == "knock":
            future = told.get(message["participant"]["id"])
            if future is not None and not future.done():
                future.set_result(time.perf_counter())

    host = await connect(host_url.replace("http", "ws") + "/ws/staff",
                         additional_headers={"Cookie": f"visitt_session={cookie}"})
    host_task = asyncio.create_task(_reader(host, on_host))
    await host.send('{"type":"hello","version":1}')
    patients = []
    for token in tokens:
        socket = await connect(patient_url.replace("http", "ws") + f"/ws/v/{token}")
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        patients.append((socket, inbox, asyncio.create_task(_reader(socket, inbox.put_nowait))))
        await socket.send('{"type":"hello","version":1}')
    ids = []
    for _socket, inbox, _task in patients:
        while (message := await inbox.get())["type"] != "welcome":
            pass
        ids.append(message["id"])

    latencies: list[float] = []
    free: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(patients)):
        free.put_nowait(index)

    async def one(index: int) -> None:
        socket, inbox, _task = patients[index]
        told[ids[index]] = asyncio.get_running_loop().create_future()
        sent = time.perf_counter()
        await socket.send('{"type":"knock","name":"Bench Pasient"}')
        latencies.append((await asyncio.wait_for(told[ids[index]], 10) - sent) * 1000)
        await socket.send('{"type":"leave"}')
        while (await inbox.get())["type"] != "bye":
            pass
        free.put_nowait(index)

    started = time.perf_counter()
    running = []
    for number in range(knocks):
        index = await free.get()
        delay = started + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        running.append(asyncio.create_task(one(index)))
    await asyncio.gather(*running)
    for socket, _inbox, task in patients:
        await socket.close()
        task.cancel()
    await host.close()
    host_task.cancel()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--knocks", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()

    name = f"visitt_bench_{secrets.token_hex(4)}"
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    nodes: list[ServeProcess] = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            (Path(scratch) / "a").mkdir()
            a = ServeProcess(Path(scratch) / "a", email=EMAIL, name="Lege Legesen", VISITT_DATABASE_URL=url,
                             VISITT_REDIS_URL="redis://127.0.0.1:6379/0", VISITT_REDIS_PREFIX=name,
                             VISITT_LOG_FORMAT="json",
                             # many bench patients from one number and one address: lift the limits meant for one
                             VISITT_SMS_PER_NUMBER="100000", VISITT_SOCKETS_PER_ADDRESS="100000")
            b = a.another(Path(scratch) / "b")
            nodes = [a.start(), b.start()]
            starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)).isoformat()
            tokens = []
            with httpx.Client(headers={"Authorization": f"Bearer {a.token}"}) as client:
                for number in range(args.patients):
                    booked = client.post(f"{a.url}/api/v1/appointments",
                                         json={"patient_name": f"Bench Pasient {number}", "patient_phone": "412 34 567",
                                               "starts_at": starts, "language": "en"})
                    booked.raise_for_status()
                    tokens.append(booked.json()["join_url"].rsplit("/v/", 1)[1])
            cookie = staff_login(a, EMAIL, STAFF_PASSWORD)  # type: ignore[arg-type]
            asyncio.run(measure(a.url, a.url, cookie, tokens, min(200, args.knocks), args.rate))  # warm-up
            same = asyncio.run(measure(a.url, a.url, cookie, tokens, args.knocks, args.rate))
            cross = asyncio.run(measure(a.url, b.url, cookie, tokens, args.knocks, args.rate))
    finally:
        for node in nodes:
            node.stop()
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    rows = []
    for label, values in (("same node", same), ("across two nodes (Redis)", cross)):
        rows.append(f"| {label} | {percentile(values, 0.5):.1f} | {percentile(values, 0.99):.1f} | "
                    f"{max(values):.1f} |")
    added = percentile(cross, 0.99) - percentile(same, 0.99)
    body = f"""## Across nodes: knock → clinician notified (`bench/cross_node.py`)

Two `visitt serve` processes on one PostgreSQL and one Redis, all on loopback. The clinician's dashboard is on node
A; {args.patients} patients' sockets are first on node A, then on node B, whose messages go to A and back through
Redis. {args.knocks} knocks at {args.rate:.0f} a second; each patient leaves again once the clinician is told.
Target: ≤ 10 ms p99 added by the second node.

| ms | p50 | p99 | max |
|---|---|---|---|
{chr(10).join(rows)}

Added by the second node at p99: **{added:.1f} ms**.
"""
    print(body)
    if not args.no_write:
        write_section("cross_node", body)


if __name__ == "__main__":
    main()
