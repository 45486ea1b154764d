"""A live Visitt server for tests and benchmarks: the default server (:data:`visitt.ops.serving.DEFAULT`,
uvicorn) on a loopback port, in a thread.

The SMS backend writes to ``<data dir>/sms.jsonl`` so a test can read what a patient would receive;
e-mail goes to ``<data dir>/mail/*.eml`` unless the settings name an SMTP server.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import email
import email.policy
from email.message import EmailMessage

import uvicorn

from visitt import accounts, demo
from visitt.app import create_app
from visitt.messaging.outbox import Backend, FileBackend
from visitt.settings import Settings
from visitt.ops.serving import DEFAULT, uvicorn_config
from visitt.web.slow_clients import uvicorn_options

T = TypeVar("T")


@dataclass
class LiveServer:
    """Visitt on a loopback port in a thread of this process, with the SMS written to a file (or sent
    through ``sms_backend``, when given). Without a ``public_url`` in the settings, the server's own
    address is its public URL (links in SMS and e-mails point back to it)."""

    settings: Settings
    sms_backend: Backend | None = None
    port: int = 0  # 0: any free one; a restarted server takes its predecessor's, so pages find it again
    url: str = ""
    outbox: Path = field(default_factory=Path)
    token: str = ""
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> "LiveServer":
        self.outbox = self.settings.data_dir / "sms.jsonl"
        # the socket first: its port is in the public URL the app is created with
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        if not self.settings.public_url:
            self.settings = self.settings.but(public_url=self.url)
        app = create_app(self.settings, sms_backend=self.sms_backend or FileBackend(self.outbox))
        config = uvicorn_config(app, self.settings.server if self.settings.server.startswith("uvicorn") else DEFAULT,
                                host="127.0.0.1", port=self.port, log_level="warning", access_log=False,
                                forwarded_allow_ips=self.settings.trusted_proxies, **uvicorn_options(self.settings))
        self._server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(listener,), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        self.database = app.state.database
        self.app = app
        with self.database.session() as session:
            demo.seed(session)
            self.token = accounts.create_api_token(session, demo.PEOPLE[0][0])
        return self

    def _run(self, listener: socket.socket) -> None:
        assert self._server is not None
        try:
            self.loop.run_until_complete(self._server.serve(sockets=[listener]))
        finally:
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coroutine`` on the server's own event loop (e.g. to close a socket from the server side)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def sms(self, wait: float = 10.0, count: int = 1) -> list[dict[str, str]]:
        """The SMS sent so far, waiting until there are at least ``count``."""
        deadline = time.monotonic() + wait
        while True:
            lines = self.outbox.read_text().splitlines() if self.outbox.exists() else []
            if len(lines) >= count or time.monotonic() > deadline:
                return [json.loads(line) for line in lines]
            time.sleep(0.05)

    def mail(self, wait: float = 10.0, count: int = 1) -> list[EmailMessage]:
        """The e-mails written to ``<data dir>/mail`` so far, oldest first, waiting for at least ``count``."""
        directory = self.settings.data_dir / "mail"
        deadline = time.monotonic() + wait
        while True:
            files = sorted(directory.glob("*.eml"), key=lambda path: int(path.stem)) if directory.exists() else []
            if len(files) >= count or time.monotonic() > deadline:
                return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                        for path in files]
            time.sleep(0.05)
