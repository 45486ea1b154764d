"""One signaling worker under load: sockets held, memory and CPU per socket, knock latency.

    python bench/signaling_load.py [--participants 10000] [--knock-rate 1000] [--duration 10]
                                   [--consultations 200] [--postgres] [--server NAME] [--no-write] [--json FILE]

Starts one ``visitt serve`` process (one worker of the server ``--server`` names, the default's
unless told: ``VISITT_SERVER``, ``visitt.ops.serving``; SQLite in a temporary directory, or a fresh
PostgreSQL database with ``--postgres``) and inserts ``--participants`` booked appointments, each
with its room and patient invitation, straight into the database, spread over clinicians
(``--per-clinician`` patients each). Client processes of their own
(``multiprocessing``, asyncio and the ``websockets`` library, offering permessage-deflate as
browsers do) then open one patient socket per invitation, say hello and stay connected, answering
the server's pings. Measured on the worker, from ``/proc/<pid>``:

- sockets held at once (the clients' welcomes, checked against ``/metrics``);
  (a server that runs its worker as a child process, as granian does, is measured with its children)
- resident memory before and after connecting, divided by the sockets: memory per connection;
- CPU while connecting, while idle with every socket open, and while knocking.

With every socket still open, a driver process signs a clinician's dashboard in and has patients
of its own knock at ``--knock-rate`` a second for ``--duration`` s; each knock's time from sending
to the dashboard hearing of it is measured, then the patient leaves (the next knock reuses them).
The rate actually achieved is reported beside the target. Last, ``--consultations`` whole
consultations run through the same worker, four at a time: knock, admit, offer, answer, four ICE
candidates each way, a chat message each way, leave.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import multiprocessing
import os
import resource
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import percentile, write_section  # noqa: E402
from tests.conftest import PG_ADMIN_URL  # noqa: E402
from tests.serve import ServeProcess  # noqa: E402
from visitt.accounts import digest, open_session  # noqa: E402
from visitt.store.db import Database  # noqa: E402
from visitt.store.models import Appointment, Participant, Role, Room, Staff  # noqa: E402
from visitt.settings import SERVERS, Settings  # noqa: E402

EMAIL = "lege.legesen@sykehuset.example"
HELLO = '{"type":"hello","version":1}'
SOCKETS_PER_PROCESS = 2500
KNOCKERS = 400  # the driver's own patients, reused knock after knock
KNOCK_CLINICIANS = 20  # whose patients they are: each has a dashboard open in the driver
LANES = 4  # consultations at once
TICK = os.sysconf("SC_CLK_TCK")


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- the worker, seen from /proc ------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants: a server may run its worker as a child process."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            todo.extend(int(child) for child in task.read_text().split())
    return found


def rss_kib(pid: int) -> int:
    total = 0
    for member in tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for member in tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    return total


class CpuMeter:
    """The worker's CPU use between :meth:`start` and :meth:`stop`, as a share of one core."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def start(self) -> CpuMeter:
        self.cpu, self.wall = cpu_seconds(self.pid), time.monotonic()
        return self

    def stop(self) -> float:
        return (cpu_seconds(self.pid) - self.cpu) / (time.monotonic() - self.wall) * 100


class MachineMeter:
    """The whole machine between :meth:`start` and :meth:`stop`, from ``/proc/stat``: the share of its
    cores that was busy, and the share the hypervisor gave to other guests (steal), both in %."""

    @staticmethod
    def _ticks() -> list[int]:
        # user nice system idle iowait irq softirq steal
        return [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]

    def start(self) -> MachineMeter:
        self.before = self._ticks()
        return self

    def stop(self) -> tuple[float, float]:
        spent = [after - before for after, before in zip(self._ticks(), self.before)]
        total = max(sum(spent), 1)
        idle = spent[3] + spent[4]
        return (total - idle - spent[7]) / total * 100, spent[7] / total * 100


def connected_gauge(url: str) -> int:
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith("visitt_connected_participants "):
            return int(float(line.split()[1]))
    raise RuntimeError("no visitt_connected_participants in /metrics")


# --- invitations in bulk ----------------------------------------------------------------------------


def invite_in_bulk(database_url: str, count: int, *, others: int = 0, per_clinician: int = 20,
                   knock_clinicians: int = 1) -> tuple[list[str], list[int]]:
    """Appointments starting in ten minutes, each with a room and a patient; returns the tokens and
    each one's clinician (staff id).

    The first ``count`` are spread over ``knock_clinicians``: the signed-in clinician and colleagues
    of theirs; ``others`` more over clinicians of their own, ``per_clinician`` each (a worker serves
    many clinicians; none sees 10,000 patients).
    """
    engine = sqlalchemy.create_engine(database_url)
    starts = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)
    tokens = [secrets.token_urlsafe(24) for _ in range(count + others)]
    with engine.begin() as connection:
        clinician, department = connection.execute(
            sqlalchemy.select(Staff.id, Staff.department_id).where(Staff.email == EMAIL)).one()
        colleagues = -(-others // per_clinician) + knock_clinicians - 1
        if colleagues:
            connection.execute(sqlalchemy.insert(Staff), [
                {"email": f"lege{number}@bench.example", "full_name": f"Lege {number}", "role": Role.clinician,
                 "password_hash": "!", "department_id": department} for number in range(colleagues)])
        staff = connection.scalars(sqlalchemy.select(Staff.id).where(Staff.email.like("%@bench.example"))
                                   .order_by(Staff.id)).all()
        knocking = [clinician, *staff[:knock_clinicians - 1]]
        staff = staff[knock_clinicians - 1:]
        hosts = ([knocking[number % knock_clinicians] for number in range(count)]
                 + [staff[number // per_clinician] for number in range(others)])
        first = connection.scalar(sqlalchemy.select(sqlalchemy.func.coalesce(sqlalchemy.func.max(Appointment.id), 0)))
        ids = range(first + 1, first + 1 + len(tokens))
        connection.execute(sqlalchemy.insert(Appointment), [
            {"id": i, "department_id": department, "clinician_id": host, "booked_by_id": host,
             "starts_at": starts, "duration_minutes": 20, "patient_name": "Bench Pasient",
             "patient_phone": "+4741234567", "language": "nb"} for i, host in zip(ids, hosts)])
        connection.execute(sqlalchemy.insert(Room), [
            {"id": i, "public_id": secrets.token_urlsafe(12), "appointment_id": i, "host_id": host}
            for i, host in zip(ids, hosts)])
        connection.execute(sqlalchemy.insert(Participant), [
            {"public_id": secrets.token_urlsafe(9), "room_id": i, "kind": "patient", "token_hash": digest(token),
             "code": f"{i % 1000000:06d}", "phone": "+4741234567"} for i, token in zip(ids, tokens)])
    engine.dispose()
    return tokens, hosts


def signed_in(database_url: str, staff_ids: list[int]) -> dict[int, str]:
    """A session cookie for each of these clinicians, as if they had signed in."""
    database = Database(database_url)
    with database.session() as session:
        cookies = {staff_id: open_session(session, session.get_one(Staff, staff_id), 12) for staff_id in staff_ids}
    database.dispose()
    return cookies


# --- client processes -----------------------------------------------------------------------------


async def _answer_pings(socket: ClientConnection) -> None:
    try:
        async for text in socket:
            if '"ping"' in str(text):
                await socket.send('{"type":"pong"}')
    except ConnectionClosed:
        pass


async def _hold(url: str, tokens: list[str], report: Any, stop: Any) -> None:
    gate = asyncio.Semaphore(64)  # handshakes in flight from this process
    sockets: list[ClientConnection] = []
    failures = 0

    async def one(token: str) -> None:
        nonlocal failures
        async with gate:
            try:
                socket = await connect(f"{url}/ws/v/{token}", ping_interval=None, open_timeout=120,
                                       close_timeout=1, max_queue=4)
                await socket.send(HELLO)
                welcome = json.loads(await asyncio.wait_for(socket.recv(), 120))
                assert welcome["type"] == "welcome", welcome
            except Exception:
                failures += 1
                return
        sockets.append(socket)
        asyncio.create_task(_answer_pings(socket))

    await asyncio.gather(*(one(token) for token in tokens))
    report.put((len(sockets), failures))
    while not stop.is_set():
        await asyncio.sleep(0.2)
    await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)


def hold(url: str, tokens: list[str], report: Any, stop: Any) -> None:
    """A client process: keeps one patient socket open per token until ``stop`` is set."""
    raise_fd_limit()
    asyncio.run(_hold(url, tokens, report, stop))


class Patient:
    """A socket of the driver's: a patient or a clinician, its messages queued for :meth:`expect`."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.id = ""
        self.clinician = ""  # a patient's: their clinician's session cookie

    async def read(self, on_knock: Any = None) -> None:
        async for text in self.socket:
            message = json.loads(text)
            if message["type"] == "ping":
                await self.socket.send('{"type":"pong"}')
            elif on_knock is None:
                self.inbox.put_nowait(message)
            elif message["type"] == "knock":  # the measuring dashboard looks at the knocks only
                on_knock(message)

    async def expect(self, kind: str) -> dict[str, Any]:
        while (message := await asyncio.wait_for(self.inbox.get(), 30))["type"] != kind:
            if message["type"] == "error":
                raise RuntimeError(f"server error: {message}")
        return message

    async def send(self, **message: Any) -> None:
        await self.socket.send(json.dumps(message))


async def _open(url: str, path: str, headers: dict[str, str] | None = None, on_knock: Any = None) -> Patient:
    peer = Patient(await connect(url + path, ping_interval=None, additional_headers=headers or {}))
    await peer.send(type="hello", version=1)
    peer.id = json.loads(await peer.socket.recv())["id"]
    asyncio.create_task(peer.read(on_knock))
    return peer


def _as(cookie: str) -> dict[str, str]:
    return {"Cookie": f"visitt_session={cookie}"}


async def _drive(url: str, knockers: list[tuple[str, str]], rate: float, duration: float,
                 consultations: int, report: Any) -> None:
    """``knockers``: each patient's token and their clinician's session cookie."""
    told: dict[str, asyncio.Future[float]] = {}

    def on_knock(message: dict[str, Any]) -> None:
        future = told.get(message["participant"]["id"])
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    for cookie in sorted({cookie for _token, cookie in knockers}):  # each clinician's dashboard
        await _open(url, "/ws/staff", _as(cookie), on_knock)
    free: asyncio.Queue[Patient] = asyncio.Queue()
    for token, cookie in knockers:
        patient = await _open(url, f"/ws/v/{token}")
        patient.clinician = cookie
        free.put_nowait(patient)
    latencies: list[float] = []
    errors = 0

    async def knock(patient: Patient) -> None:
        nonlocal errors
        told[patient.id] = heard = asyncio.get_running_loop().create_future()
        sent = time.perf_counter()
        await patient.send(type="knock", name="Bench Pasient")
        try:
            latencies.append((await asyncio.wait_for(heard, 30) - sent) * 1000)
            await patient.send(type="leave")
            await patient.expect("bye")
        except Exception:
            errors += 1
        free.put_nowait(patient)

    # The driver's own pauses would count as the server's: nothing it made so far is garbage, and it
    # keeps nothing per knock but the figure (a full collection here took 140 ms, in the middle of
    # the knocks, on a 2-core machine).
    gc.collect()
    gc.freeze()
    report.put(("knocking", None))
    started = time.perf_counter()
    running: set[asyncio.Task[None]] = set()
    number = 0
    while time.perf_counter() - started < duration:
        patient = await free.get()
        delay = started + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(knock(patient))
        running.add(task)
        task.add_done_callback(running.discard)
        number += 1
    await asyncio.gather(*running)
    knocked = time.perf_counter() - started
    gc.unfreeze()
    report.put(("knocked", {"latencies": latencies, "seconds": knocked, "errors": errors, "sent": number}))

    # whole consultations, patients from the same pool; a clinician's page (socket) for each, as one
    # socket running forty consultations a second would trip the server's per-socket message rate
    admitted: list[float] = []
    remaining = list(range(consultations))

    async def consult() -> None:
        while remaining:
            remaining.pop()
            patient = await free.get()
            lane = await _open(url, "/ws/staff", _as(patient.clinician))
            await patient.send(type="knock", name="Bench Pasient")
            await patient.expect("waiting")
            room = await _room_of(lane, patient.id)
            clicked = time.perf_counter()
            await lane.send(type="admit", room=room, participant=patient.id)
            await patient.expect("admitted")
            await lane.expect("admitted")
            admitted.append((time.perf_counter() - clicked) * 1000)
            await lane.send(type="signal", to=patient.id, description={"type": "offer", "sdp": "v=0 " + "o" * 3000})
            await patient.expect("signal")
            await patient.send(type="signal", to=lane.id, description={"type": "answer", "sdp": "v=0 " + "a" * 3000})
            await lane.expect("signal")
            for number in range(4):
                candidate = {"candidate": f"candidate:{number} 1 udp 2122260223 10.0.0.{number} 5000{number} typ host",
                             "sdpMid": "0", "sdpMLineIndex": 0}
                await lane.send(type="signal", to=patient.id, candidate=candidate)
                await patient.send(type="signal", to=lane.id, candidate=candidate)
            for _ in range(4):
                await patient.expect("signal")
                await lane.expect("signal")
            await lane.send(type="chat", text="Hører du meg?")
            await patient.send(type="chat", text="Ja, fint.")
            for _ in range(2):
                await patient.expect("chat")
                await lane.expect("chat")
            await patient.send(type="leave")
            await patient.expect("bye")
            await lane.expect("left")
            await lane.socket.close()
            free.put_nowait(patient)

    async def _room_of(lane: Patient, peer_id: str) -> str:
        while True:
            message = await lane.expect("knock")
            if message["participant"]["id"] == peer_id:
                return str(message["room"])

    started = time.perf_counter()
    await asyncio.gather(*(consult() for _ in range(LANES)))
    report.put(("consulted", {"admit_ms": admitted, "seconds": time.perf_counter() - started}))


def drive(url: str, knockers: list[tuple[str, str]], rate: float, duration: float, consultations: int,
          report: Any) -> None:
    """The driver process: the clinicians' dashboards, patients knocking, then whole consultations."""
    raise_fd_limit()
    try:
        asyncio.run(_drive(url, knockers, rate, duration, consultations, report))
    except BaseException as error:
        report.put(("failed", repr(error)))
        raise


# --- the run --------------------------------------------------------------------------------------


def run(args: argparse.Namespace, scratch: Path, database_url: str) -> dict[str, Any]:
    # every simulated patient connects from 127.0.0.1: lift the per-address socket cap meant for one real client
    env = {"VISITT_LOG_FORMAT": "json", "VISITT_SOCKETS_PER_ADDRESS": "1000000", "VISITT_SERVER": args.server}
    if database_url:
        env["VISITT_DATABASE_URL"] = database_url
    server = ServeProcess(scratch, email=EMAIL, name="Lege Legesen", **env)
    url = database_url or f"sqlite:///{scratch / 'visitt.sqlite3'}"
    tokens, hosts = invite_in_bulk(url, KNOCKERS, others=args.participants, per_clinician=args.per_clinician,
                                   knock_clinicians=KNOCK_CLINICIANS)
    server.start()
    assert server.process is not None
    pid = server.process.pid
    context = multiprocessing.get_context("spawn")
    report, stop = context.Queue(), context.Event()
    figures: dict[str, Any] = {}
    workers: list[Any] = []
    try:
        httpx.get(f"{server.url}/healthz")
        time.sleep(1)
        figures["rss_before_kib"] = rss_kib(pid)
        idle = CpuMeter(pid).start()
        time.sleep(3)
        figures["cpu_empty"] = idle.stop()

        # ramp up
        held = tokens[KNOCKERS:]
        slices = [held[i:i + SOCKETS_PER_PROCESS] for i in range(0, len(held), SOCKETS_PER_PROCESS)]
        meter = CpuMeter(pid).start()
        started = time.monotonic()
        for part in slices:
            worker = context.Process(target=hold, args=(server.url.replace("http", "ws"), part, report, stop))
            worker.start()
            workers.append(worker)
        opened = failed = 0
        for _ in slices:
            count, failures = report.get(timeout=1800)
            opened, failed = opened + count, failed + failures
        figures["connect_seconds"] = time.monotonic() - started
        figures["cpu_connecting"] = meter.stop()
        figures["opened"], figures["failed"] = opened, failed
        time.sleep(2)
        figures["gauge"] = connected_gauge(server.url)
        figures["rss_after_kib"] = rss_kib(pid)
        idle = CpuMeter(pid).start()
        time.sleep(10)
        figures["cpu_idle"] = idle.stop()
        print(f"held {opened} sockets ({failed} failed) in {figures['connect_seconds']:.1f} s; "
              f"/metrics says {figures['gauge']}; RSS {figures['rss_before_kib']} → {figures['rss_after_kib']} KiB",
              flush=True)

        # knocks and consultations, from the driver process
        cookies = signed_in(url, sorted(set(hosts[:KNOCKERS])))
        knockers = [(token, cookies[host]) for token, host in zip(tokens[:KNOCKERS], hosts)]
        driver = context.Process(target=drive, args=(server.url.replace("http", "ws"), knockers,
                                                     args.knock_rate, args.duration, args.consultations, report))
        driver.start()
        workers.append(driver)
        while True:
            step, value = report.get(timeout=1800)
            if step == "failed":
                raise RuntimeError(f"the driver failed: {value}")
            if step == "knocking":
                meter, machine = CpuMeter(pid).start(), MachineMeter().start()
            elif step == "knocked":
                figures["cpu_knocking"] = meter.stop()
                figures["machine_busy"], figures["machine_stolen"] = machine.stop()
                figures["knocks"] = value
                figures["rss_knocked_kib"] = rss_kib(pid)
            elif step == "consulted":
                figures["consultations"] = value
                break
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
            if worker.is_alive():
                worker.kill()
        server.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=10_000, help="patient sockets held at once")
    parser.add_argument("--knock-rate", type=float, default=1000.0, help="knocks a second (target)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of knocking")
    parser.add_argument("--consultations", type=int, default=200, help="whole consultations after the knocks")
    parser.add_argument("--per-clinician", type=int, default=20,
                        help="the held sockets' patients per clinician (the knocking clinician has their own)")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL on 127.0.0.1 instead of SQLite")
    parser.add_argument("--server", choices=SERVERS, default=Settings.server,
                        help="the ASGI server (VISITT_SERVER); its figures go to a section of their own")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    parser.add_argument("--json", help="also write the figures to this file, as JSON (bench/servers.py reads it)")
    args = parser.parse_args()
    raise_fd_limit()  # inherited by the worker and the client processes

    name = f"visitt_load_{secrets.token_hex(4)}"
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT") if args.postgres else None
    database_url = ""
    if admin is not None:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        database_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory() as scratch:
            figures = run(args, Path(scratch), database_url)
    finally:
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    held = figures["opened"]
    per_socket = (figures["rss_after_kib"] - figures["rss_before_kib"]) / max(held, 1)
    knocks = figures["knocks"]
    latencies = knocks["latencies"]
    achieved = len(latencies) / knocks["seconds"]
    consulted = figures["consultations"]
    admit_ms = consulted["admit_ms"]
    database = "PostgreSQL 127.0.0.1" if args.postgres else "SQLite (WAL)"

    def mark(ok: bool) -> str:
        return "met" if ok else "**missed**"

    body = f"""## One worker under load (`bench/signaling_load.py`)

One `visitt serve` process (one worker, `VISITT_SERVER={args.server}`, {database}); the clients are separate processes (Python,
`websockets`, offering permessage-deflate like a browser) on the same machine, sharing its cores with the worker.

| | measured | target |
|---|---|---|
| patient sockets held at once | {held} of {args.participants} (`/metrics`: {figures['gauge']}; {figures['failed']} failed) | ≥ 10,000 ({mark(held >= 10_000)}) |
| worker memory per socket | {per_socket:.1f} KiB (RSS {figures['rss_before_kib'] / 1024:.0f} → {figures['rss_after_kib'] / 1024:.0f} MiB) | ≤ 25 KiB ({mark(per_socket <= 25)}) |
| knock → clinician notified, p50 / p99 / max | {percentile(latencies, 0.5):.1f} / {percentile(latencies, 0.99):.1f} / {max(latencies):.1f} ms | p99 ≤ 50 ms ({mark(percentile(latencies, 0.99) <= 50)}) |
| knock rate achieved | {achieved:.0f} a second of {args.knock_rate:,.0f} asked ({len(latencies)} knocks in {knocks['seconds']:.1f} s, {knocks['errors']} errors) | 1,000 ({mark(achieved >= 980)}) |
| admit → both admitted, p50 / p99 | {percentile(admit_ms, 0.5):.1f} / {percentile(admit_ms, 0.99):.1f} ms | |
| whole consultations ({LANES} at once) | {len(admit_ms)} in {consulted['seconds']:.1f} s | |

Worker CPU (share of one core): {figures['cpu_empty']:.1f} % before any socket, {figures['cpu_connecting']:.0f} % while
{held} sockets connected ({figures['connect_seconds']:.0f} s), {figures['cpu_idle']:.1f} % idle with them all open,
{figures['cpu_knocking']:.0f} % while knocking. The whole machine while knocking (`/proc/stat`):
{figures['machine_busy']:.0f} % of its {os.cpu_count()} cores busy, {figures['machine_stolen']:.1f} % taken by the hypervisor for
other guests (steal). When knocks are asked for faster than the worker takes them they queue, and the latency
measures the queue. Each knock is followed by the patient leaving again; the knocks come
from {KNOCKERS} patients of {KNOCK_CLINICIANS} clinicians, each with their dashboard open, while the {held} others (patients of
{-(-held // args.per_clinician)} other clinicians, {args.per_clinician} each) stay connected.
"""
    print(body)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "server": args.server, "database": "postgresql" if args.postgres else "sqlite", "held": held,
            "failed": figures["failed"], "per_socket_kib": per_socket, "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99), "max_ms": max(latencies), "rate": achieved,
            "errors": knocks["errors"], "connect_seconds": figures["connect_seconds"],
            "cpu_knocking": figures["cpu_knocking"], "cpu_idle": figures["cpu_idle"],
            "machine_busy": figures["machine_busy"], "machine_stolen": figures["machine_stolen"],
            "load": os.getloadavg()[0]}))
    if not args.no_write:
        name = "signaling_load_postgres" if args.postgres else "signaling_load"
        write_section(name if args.server == Settings.server else f"{name}_{args.server}", body)


if __name__ == "__main__":
    main()
