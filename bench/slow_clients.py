"""What uvicorn's documented options do about slow clients: the figures in docs/deployment.md, "Slow clients".

    python bench/slow_clients.py [--wait 8]

Runs uvicorn on loopback with a minimal ASGI application (it answers 200, reading the body of a POST
first) and probes it with raw sockets, once with httptools and once with h11:

- a connection that sends nothing, half its headers, a whole request and then nothing, or its headers
  and half its body: is it closed, and after how long (``timeout_keep_alive=2``)?
- one header value of 64 MiB, sent 1 MiB at a time: is it refused, and how much does the server grow?
- ``limit_concurrency=100`` with 100 idle connections open: what does a real request get?
- a server limited to 1,024 file descriptors (systemd's default ``LimitNOFILE``) with 1,100 idle
  connections open from another process: what does a real request get, at once and 20 s later?

Then the same probes against Visitt itself (``visitt.testing.LiveServer``, ``VISITT_BODY_TIMEOUT=1``).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import socket
import sys
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["method"] == "POST":
        while (await receive()).get("more_body"):
            pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def start(**options: Any) -> tuple[uvicorn.Server, int]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", **options))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, server.servers[0].sockets[0].getsockname()[1]


def rss_mib() -> int:
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) // 1024


async def closed_after(port: int, first: bytes, wait: float) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(first)
    await writer.drain()
    started = time.monotonic()
    try:
        answer = await asyncio.wait_for(reader.read(), wait)
    except TimeoutError:
        return f"still open after {wait:.0f} s"
    finally:
        writer.close()
    status = answer.split(b"\r\n", 1)[0].decode() or "no answer"
    return f"closed after {time.monotonic() - started:.2f} s ({status})"


async def request(port: int) -> str:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        return answer.split(b"\r\n", 1)[0].decode() or "closed without an answer"
    except (OSError, TimeoutError) as error:
        return type(error).__name__


PROBES = {
    "nothing sent": b"",
    "half the headers": b"GET / HTTP/1.1\r\nHost: x\r\n",
    "a whole request, then nothing": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "headers and half the body": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
}


async def phases(port: int, wait: float, probes: dict[str, bytes] = PROBES) -> None:
    for name, first in probes.items():
        print(f"  {name:<32} {await closed_after(port, first, wait)}")


async def header_flood(port: int) -> None:
    before = rss_mib()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: ")
    sent = 0
    try:
        for _ in range(64):
            writer.write(b"a" * (1 << 20))
            await asyncio.wait_for(writer.drain(), 5)
            sent += 1
        await asyncio.sleep(1)
        print(f"  one 64-MiB header value            accepted, still open; server RSS {before} -> {rss_mib()} MiB")
    except (OSError, TimeoutError) as error:
        print(f"  one 64-MiB header value            refused ({type(error).__name__}) after {sent} MiB sent")
    writer.close()


async def concurrency_limit() -> None:
    server, port = start(limit_concurrency=100)
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(100)]
    await asyncio.sleep(0.5)
    print(f"  limit_concurrency=100, 100 idle connections: a real request gets {await request(port)}")
    for _reader, writer in idle:
        writer.close()
    server.should_exit = True


def _limited_server(port: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="critical")


async def descriptor_limit() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = multiprocessing.get_context("spawn").Process(target=_limited_server, args=(port,), daemon=True)
    process.start()
    await asyncio.sleep(2)
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(1100)]
    await asyncio.sleep(1)
    print(f"  LimitNOFILE=1024, 1,100 idle connections: a real request gets {await request(port)}", end="")
    await asyncio.sleep(20)
    print(f"; 20 s later {await request(port)}")
    for _reader, writer in idle:
        writer.close()
    process.terminate()


async def main(wait: float) -> None:
    print(f"uvicorn {version('uvicorn')}, httptools {version('httptools')}, h11 {version('h11')}")
    for http in ("httptools", "h11"):
        server, port = start(http=http, timeout_keep_alive=2)
        print(f"{http}, timeout_keep_alive=2:")
        await phases(port, wait)
        await header_flood(port)
        server.should_exit = True
    await concurrency_limit()
    await descriptor_limit()

    from tests.conftest import make_settings
    from visitt.testing import LiveServer
    visitt = LiveServer(make_settings(Path(tempfile.mkdtemp()), body_timeout=1.0, keep_alive_timeout=2)).start()
    print("Visitt (VISITT_BODY_TIMEOUT=1, VISITT_KEEP_ALIVE_TIMEOUT=2):")
    booking = (b"POST /api/v1/appointments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 100\r\nAuthorization: Bearer " + visitt.token.encode() + b"\r\n\r\n{")
    await phases(visitt.port, wait, {**PROBES, "headers and half the body": booking})
    visitt.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wait", type=float, default=8.0, help="how long to wait for a close, in seconds")
    asyncio.run(main(parser.parse_args().wait))
