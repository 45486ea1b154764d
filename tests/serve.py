"""``visitt serve`` as an operator runs it: a subprocess with its own logging, signals and exit status.

The in-process :class:`visitt.testing.LiveServer` is quicker; these tests need what only a real
process has: the command's logging configuration, SIGTERM and the exit code.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from visitt.testing import TIMEOUT

from .commands import visitt

STAFF_PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServeProcess:
    """``python -m visitt serve`` on a free loopback port, data in ``data_dir``, SMS to ``sms.jsonl``.

    ``url`` and ``token`` (an API token from ``visitt tokens create``) are what the helpers in
    ``tests/peers.py`` read from a server, so they work with this one too.
    """

    def __init__(self, data_dir: Path, *, email: str, name: str, token: str = "", **env: str) -> None:
        self.data_dir = data_dir
        self.email = email
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # its own address is its public URL, and /metrics is open as on a private port, unless ``env`` says otherwise
        self.env = {**os.environ, "VISITT_DATA_DIR": str(data_dir), "VISITT_OUTBOX_INTERVAL": "0.2",
                    "VISITT_SMS_BACKEND": f"file:{data_dir / 'sms.jsonl'}", "VISITT_NEW_PASSWORD": STAFF_PASSWORD,
                    "VISITT_PUBLIC_URL": self.url, "VISITT_METRICS_OPEN": "true",
                    "VISITT_PASSWORD_HASHING": "cheapest", **env}  # as the other tests' settings (conftest)
        self.stderr_path = data_dir / "stderr.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.token = token
        if not token:  # a new installation; with a token, another node of ``another``'s
            self._visitt("users", "add", email, "--name", name, "--role", "clinician", "--department", "Poliklinikk")
            self._visitt("users", "trained", email)  # the training gate: this clinician hosts calls
            self.token = self._visitt("tokens", "create", email).strip()

    def another(self, data_dir: Path) -> ServeProcess:
        """A second node of the same installation: the same database and settings, its own port."""
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {key: value for key, value in self.env.items() if key.startswith("VISITT_")}
        env["VISITT_DATA_DIR"], env["VISITT_SMS_BACKEND"] = str(data_dir), f"file:{data_dir / 'sms.jsonl'}"
        return ServeProcess(data_dir, email=self.email, name="", token=self.token, **env)

    def _visitt(self, *args: str) -> str:
        """A set-up command (``users add``, ``tokens create``) with this node's settings, run in the test's
        process (tests/commands.py): the process under test is ``serve``."""
        settings = {name: value for name, value in self.env.items()
                    if name.startswith("VISITT_") and not name.startswith("VISITT_TEST_")}
        done = visitt(self.data_dir, *args, **settings)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> ServeProcess:
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "visitt", "serve", "--port", str(self.port)], env=self.env,
                stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)  # a group: granian's workers too
        deadline = time.monotonic() + 240  # a loaded machine: 60 s ran out at a load of 33, 87 s seen at 70
        try:
            while True:
                assert self.process.poll() is None, f"visitt serve exited:\n{self.stderr()}"
                try:
                    if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"visitt serve did not start:\n{self.stderr()}"
                time.sleep(0.1)
        except BaseException:
            self.stop()  # the test never gets this node to stop
            raise

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), its worker processes too, as when its machine dies."""
        assert self.process is not None
        self._kill_group()
        self.process.wait()

    def _kill_group(self) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:  # every process of the group has ended
            pass

    def sigterm(self) -> None:
        """Ask the server to stop, as systemd does."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        """The exit status, once the process has ended (``TimeoutExpired`` after ``timeout`` s)."""
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        """Kill what is left of the server (a worker may outlive its main process) and wait for it."""
        if self.process is not None:
            self._kill_group()
            self.process.wait()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    # requests as on visitt.testing's nodes, so tests/peers.py's helpers (staff_login, book) take this one too
    # (with visitt.testing's TIMEOUT unless ``timeout`` is given: a loaded machine answers slowly)
    def get(self, url: str, **options: Any) -> httpx.Response:
        return httpx.get(url, **{"timeout": TIMEOUT, **options})

    def post(self, url: str, **options: Any) -> httpx.Response:
        return httpx.post(url, **{"timeout": TIMEOUT, **options})

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, **{"timeout": TIMEOUT, **options})

    def book(self, patient_name: str, phone: str = "412 34 567") -> tuple[str, str]:
        """Book over the API, starting in ten minutes (the link is open); returns ``(join_url, token)``."""
        starts_at = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)).replace(microsecond=0)
        response = httpx.post(f"{self.url}/api/v1/appointments", headers={"Authorization": f"Bearer {self.token}"},
                              json={"patient_name": patient_name, "patient_phone": phone,
                                    "starts_at": starts_at.isoformat(), "language": "en"})
        assert response.status_code == 201, response.text
        join_url: str = response.json()["join_url"]
        return join_url, join_url.rsplit("/v/", 1)[1]

    def sms(self, wait: float = 10.0) -> list[dict[str, str]]:
        """The SMS the node has sent, waiting up to ``wait`` s for the first."""
        path = self.data_dir / "sms.jsonl"
        deadline = time.monotonic() + wait
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
