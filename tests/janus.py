"""Debian's Janus on a loopback port, as the tests and the benchmarks run it: configured by
``visitt janus-config`` (its function, in process), started, waited for, and stopped (killed if it will not stop)."""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from visitt.live.janus_config import write_config
from visitt.settings import Settings

SECRET = "a Janus API secret only Janus and Visitt know"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class JanusServer:
    """One Janus process; its configuration and log live in ``directory``."""

    def __init__(self, directory: Path, *, turn_url: str = "", turn_secret: str = "") -> None:
        binary = shutil.which("janus")
        if binary is None:
            raise RuntimeError("Janus is missing: apt-get install -y janus")
        self.directory = directory
        self.port = free_port()
        # media ports: a random block of 400, so that suites (or benchmarks) running at once rarely meet
        low = random.randrange(40000, 48000, 400)
        self.rtp_ports = (low, low + 399)  # the UDP ports of Janus's side of every media connection
        settings = Settings(data_dir=directory, janus_api_secret=SECRET, turn_secret=turn_secret,
                            turn_urls=(turn_url,) if turn_url else ())
        write_config(settings, directory / "janus", port=self.port, rtp_ports=f"{low}-{low + 399}")
        self.log = directory / "janus.log"
        self.command = [binary, "-F", str(directory / "janus"), "-C", str(directory / "janus" / "janus.jcfg"),
                        "--disable-colors", "--interface", "127.0.0.1", "--ice-enforce-list", "127.0.0.1"]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/janus"

    def start(self) -> None:
        """Start Janus and wait until its API answers."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{self.url}/info", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Janus did not start: {self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
