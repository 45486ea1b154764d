"""Slow clients over raw sockets on loopback (visitt/web/slow_clients.py, docs/deployment.md "Slow clients").

Visitt alone: a body that stalls or trickles gets 408 in the one error shape and the connection closes; an idle
connection closes after the keep-alive; hundreds of idle and half-sent connections do not stop real requests.
nginx in front, with the deployment guide's own settings (timeouts shortened): half a header is closed, a stalled
body too, one address is capped, and real requests pass while 300 idle connections wait to be closed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from visitt.testing import LiveServer

from .conftest import make_settings
from .nginx import running as nginx_running
from .peers import run
from .serve import ServeProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
BODY_TIMEOUT = 1.0
KEEP_ALIVE = 1
SLACK = 2.5  # seconds on top of a timeout, for a loaded test machine (2 cores, shared)
IDLE = 300

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(make_settings(tmp_path, body_timeout=BODY_TIMEOUT, keep_alive_timeout=KEEP_ALIVE)).start()
    yield server
    server.stop()


def booking_head(token: str, length: int = 400) -> bytes:
    """A booking's request line and headers, announcing a JSON body of ``length`` bytes."""
    return (f"POST /api/v1/appointments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {length}\r\n\r\n").encode()


async def connect(port: int, first: bytes = b"") -> Stream:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if first:
        writer.write(first)
        await writer.drain()
    return reader, writer


async def answer_and_close(reader: asyncio.StreamReader, within: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    try:
        data = await asyncio.wait_for(reader.read(), within)
    except ConnectionResetError:
        data = b""
    return data, time.monotonic() - started


def status_and_body(data: bytes) -> tuple[int, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_a_stalled_body_gets_408_in_the_error_shape_and_the_connection_closes(live: LiveServer) -> None:
    async def scenario() -> None:
        reader, writer = await connect(live.port, booking_head(live.token) + b'{"patient_name": "Kari')
        data, took = await answer_and_close(reader, BODY_TIMEOUT + SLACK)
        writer.close()
        status, body = status_and_body(data)
        assert status == 408 and took < BODY_TIMEOUT + SLACK
        assert json.loads(body) == {"error": {"code": "request_timeout",
                                              "message": "The request took too long to arrive. Please try again."}}
        head = data.partition(b"\r\n\r\n")[0].lower()
        assert b"connection: close" in head and b"x-frame-options: deny" in head  # the security headers too

    run(scenario())
    assert live.sms(wait=0.3) == []  # nothing half-sent was booked


def test_a_body_trickled_byte_by_byte_is_bounded_in_total_not_per_read(live: LiveServer) -> None:
    async def scenario() -> None:
        reader, writer = await connect(live.port, booking_head(live.token))
        started = time.monotonic()

        async def trickle() -> None:
            for byte in b'{"patient_name": "Kari Nordmann", ':  # one byte every 0.1 s, never a pause of 1 s
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)

        trickling = asyncio.create_task(trickle())
        data, _took = await answer_and_close(reader, BODY_TIMEOUT + SLACK)
        trickling.cancel()
        await asyncio.gather(trickling, return_exceptions=True)
        writer.close()
        assert status_and_body(data)[0] == 408 and time.monotonic() - started < BODY_TIMEOUT + SLACK

    run(scenario())


def test_a_form_page_that_stalls_gets_the_408_page(live: LiveServer) -> None:
    async def scenario() -> None:
        head = (b"POST /staff/login HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Language: nb\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\nemail=")
        reader, writer = await connect(live.port, head)
        data, _took = await answer_and_close(reader, BODY_TIMEOUT + SLACK)
        writer.close()
        status, body = status_and_body(data)
        assert status == 408 and "Forespørselen kom ikke fram i tide. Prøv igjen." in body.decode()

    run(scenario())


def test_a_connection_idle_after_its_answer_is_closed_after_the_keep_alive(live: LiveServer) -> None:
    async def scenario() -> None:
        reader, writer = await connect(live.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data, took = await answer_and_close(reader, KEEP_ALIVE + SLACK)
        writer.close()
        assert status_and_body(data)[0] == 200 and KEEP_ALIVE - 0.2 < took < KEEP_ALIVE + SLACK

    run(scenario())


def _book(url: str, token: str) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/appointments", headers={"Authorization": f"Bearer {token}"}, timeout=5,
                      json={"patient_name": "Kari Nordmann", "patient_phone": "412 34 567",
                            "starts_at": (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat()})


def test_hundreds_of_idle_and_half_sent_connections_do_not_stop_real_requests(live: LiveServer) -> None:
    async def scenario() -> None:
        kinds = [b"", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", booking_head(live.token) + b"{"]
        idle = [await connect(live.port, kinds[index % 3]) for index in range(IDLE)]
        try:
            started = time.monotonic()
            health = await asyncio.to_thread(httpx.get, f"{live.url}/healthz", timeout=5)
            booked = await asyncio.to_thread(_book, live.url, live.token)
            assert health.status_code == 200 and booked.status_code == 201, booked.text
            assert time.monotonic() - started < 3
            # every half-sent body has had its 408 and its connection closed
            half_bodies = [reader for index, (reader, _writer) in enumerate(idle) if index % 3 == 2]
            answers = await asyncio.gather(*(answer_and_close(reader, BODY_TIMEOUT + SLACK + 2)
                                             for reader in half_bodies))
            assert {status_and_body(data)[0] for data, _took in answers} == {408}
        finally:
            for _reader, writer in idle:
                writer.close()

    run(scenario())


def test_visitt_serve_takes_both_timeouts_from_its_environment(tmp_path: Path) -> None:
    node = ServeProcess(tmp_path, email="lege@example.no", name="Kari Lege", VISITT_BODY_TIMEOUT="1",
                        VISITT_KEEP_ALIVE_TIMEOUT="1").start()

    async def scenario() -> None:
        reader, writer = await connect(node.port, booking_head(node.token) + b"{")
        data, took = await answer_and_close(reader, 1 + SLACK)
        writer.close()
        assert status_and_body(data)[0] == 408 and took < 1 + SLACK
        reader, writer = await connect(node.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data, took = await answer_and_close(reader, 1 + SLACK)
        writer.close()
        assert status_and_body(data)[0] == 200 and took < 1 + SLACK  # uvicorn's default would be 5 s

    try:
        run(scenario())
    finally:
        node.stop()


# --- nginx in front, as docs/deployment.md sets it up -------------------------------------------------------------

NGINX_SHORT = 1  # seconds: every timeout of the documented configuration, shortened for the test
PER_ADDRESS = 20


def documented_limits() -> tuple[str, str]:
    """The deployment guide's `conf.d/visitt-limits.conf` and its server block's `limit_conn` line."""
    guide = (ROOT / "docs" / "deployment.md").read_text()
    block = re.search(r"```nginx\n# /etc/nginx/conf.d/visitt-limits.conf\n(.*?)```", guide, re.S)
    limit_conn = re.search(r"^\s*(limit_conn visitt_per_address \d+;)", guide, re.M)
    assert block and limit_conn, "docs/deployment.md lost its nginx limits"
    return block.group(1), limit_conn.group(1)


NGINX = """
user root;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log crit;
events {{ worker_connections 2048; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
{limits}
    server {{
        listen 127.0.0.1:{port};
        {limit_conn}
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


@contextmanager
def nginx(tmp_path: Path, upstream: int) -> Iterator[int]:
    limits, limit_conn = documented_limits()
    for directive in ("client_header_timeout", "client_body_timeout", "send_timeout", "keepalive_timeout",
                      "large_client_header_buffers", "limit_conn_zone", "limit_conn_status 429"):
        assert directive in limits, directive
    limits = re.sub(r"(_timeout\s+)\d+s;", rf"\g<1>{NGINX_SHORT}s;", limits)
    limit_conn = re.sub(r"\d+;", f"{PER_ADDRESS};", limit_conn)
    directory, port = tmp_path / "nginx", free_port()
    config = NGINX.format(dir=directory, limits=limits, limit_conn=limit_conn, port=port, upstream=upstream)
    with nginx_running(directory, config, port):
        yield port


needs_nginx = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (make system-packages)")


@needs_nginx
def test_behind_nginx_half_a_header_and_a_stalled_body_are_cut_off(live: LiveServer, tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        reader, writer = await connect(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        data, took = await answer_and_close(reader, NGINX_SHORT + SLACK)
        writer.close()
        assert took < NGINX_SHORT + SLACK and (data == b"" or status_and_body(data)[0] == 408)

        reader, writer = await connect(port, booking_head(live.token) + b"{")
        data, took = await answer_and_close(reader, NGINX_SHORT + SLACK)
        writer.close()
        assert took < NGINX_SHORT + SLACK and (data == b"" or status_and_body(data)[0] == 408)

    with nginx(tmp_path, live.port) as port:
        run(scenario(port))
    assert live.sms(wait=0.3) == []


@needs_nginx
def test_behind_nginx_one_address_is_capped_and_idle_connections_do_not_stop_real_requests(
        live: LiveServer, tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        idle = [await connect(port, b"" if index % 2 else b"GET / HTTP/1.1\r\n") for index in range(IDLE)]
        # requests in progress (a body still coming) from this one address, up to the cap
        busy = [await connect(port, booking_head(live.token)) for _ in range(PER_ADDRESS)]
        await asyncio.sleep(0.2)
        try:
            over = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/healthz", timeout=5)
            assert over.status_code == 429
            # the idle ones never finished their headers: they are closed, the busy ones too (no body byte)
            closed = await asyncio.gather(*(answer_and_close(reader, NGINX_SHORT + SLACK + 1)
                                            for reader, _writer in idle + busy))
            assert all(took < NGINX_SHORT + SLACK + 1 for _data, took in closed)
            health = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/healthz", timeout=5)
            booked = await asyncio.to_thread(_book, f"http://127.0.0.1:{port}", live.token)
            assert health.status_code == 200 and booked.status_code == 201, booked.text
        finally:
            for _reader, writer in idle + busy:
                writer.close()

    with nginx(tmp_path, live.port) as port:
        run(scenario(port))
