"""What one open signaling socket holds in the worker, by the package that allocated it (``tracemalloc``).

    python bench/socket_memory.py [--sockets 1000] [--server uvicorn-websockets-sansio] [--no-write]

The server (uvicorn, with the WebSocket implementation ``--server`` names) runs in a thread of this
process, as in the tests (:class:`visitt.testing.LiveServer`); a client process of its own opens
``--sockets`` patient sockets and says hello on each. Python objects allocated while they connect and
still alive with them all open are counted per socket and grouped: the middleware and routing between
the server and the endpoint (Starlette, FastAPI), the server (uvicorn, websockets, wsproto, h11),
asyncio, and Visitt's own. Memory outside Python's allocator (the kernel's socket buffers, OpenSSL) is
not in it: ``bench/signaling_load.py`` measures the whole process.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section  # noqa: E402
from bench.signaling_load import EMAIL, hold, invite_in_bulk, raise_fd_limit  # noqa: E402
from visitt import accounts  # noqa: E402
from visitt.store.models import Department, Role  # noqa: E402
from visitt.settings import SERVERS, Settings  # noqa: E402
from visitt.testing import LiveServer  # noqa: E402

GROUPS = (("starlette", "Starlette (middleware, routing, WebSocket)"), ("fastapi", "FastAPI (middleware)"),
          ("uvicorn", "uvicorn"), ("websockets", "websockets (uvicorn's parser)"), ("wsproto", "wsproto"),
          ("h11", "h11"), ("httptools", "httptools"), ("asyncio", "asyncio (tasks, transports)"),
          ("visitt", "Visitt (connection, session, hub)"))


def group(filename: str) -> str:
    parts = Path(filename).parts
    for key, _label in GROUPS:
        if key in parts:
            return key
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--server", choices=[name for name in SERVERS if name.startswith("uvicorn")],
                        default=Settings.server)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    raise_fd_limit()
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(data_dir=Path(scratch), link_opens_minutes=31 * 24 * 60, server=args.server)
        server = LiveServer(settings).start()
        try:
            with server.database.session() as session:
                accounts.create_staff(session, email=EMAIL, full_name="Lege Legesen", role=Role.clinician,
                                      password="a long password", department=Department(name="Poliklinikk"))
            tokens, _hosts = invite_in_bulk(settings.effective_database_url, 0, others=args.sockets)
            context = multiprocessing.get_context("spawn")
            report, stop = context.Queue(), context.Event()
            tracemalloc.start(1)
            time.sleep(1)
            before = tracemalloc.take_snapshot()
            client = context.Process(target=hold, args=(server.url.replace("http", "ws"), tokens, report, stop))
            client.start()
            opened, failed = report.get(timeout=600)
            time.sleep(2)
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
            stop.set()
            client.join(30)
        finally:
            server.stop()
    sizes: dict[str, int] = defaultdict(int)
    for difference in after.compare_to(before, "filename"):
        sizes[group(difference.traceback[0].filename)] += difference.size_diff
    per = {key: value / max(opened, 1) / 1024 for key, value in sizes.items()}
    rows = "\n".join(f"| {label} | {per.get(key, 0.0):.1f} |" for key, label in GROUPS)
    body = f"""## What a socket holds, by package (`bench/socket_memory.py`)

{opened} patient sockets ({failed} failed) under `VISITT_SERVER={args.server}`, in the worker's Python heap
(`tracemalloc`), per socket:

| allocated by | KiB per socket |
|---|---|
{rows}
| anything else | {per.get('other', 0.0):.1f} |
| **all** | **{sum(per.values()):.1f}** |
"""
    print(body)
    if not args.no_write:
        write_section(f"socket_memory_{args.server}", body)


if __name__ == "__main__":
    main()
