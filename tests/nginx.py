"""Debian's nginx, run by a test in a directory of its own on a free port (no tests here)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


@contextmanager
def running(directory: Path, config: str, port: int) -> Iterator[str]:
    """nginx with ``config`` (its ``nginx.conf``) in ``directory``, listening on ``port``; yields its URL once
    ``/healthz`` answers through it, and stops it afterwards."""
    directory.mkdir(exist_ok=True)
    path = directory / "nginx.conf"
    path.write_text(config)
    with (directory / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(["nginx", "-p", str(directory), "-c", str(path), "-g", "daemon off;"],
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # 10 s ran out at a load of 94 on two cores
        while True:
            assert process.poll() is None, (directory / "stderr.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)
