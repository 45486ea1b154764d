"""Visitt for tests and benchmarks, two ways: :class:`LiveServer`, the default server
(:data:`visitt.ops.serving.DEFAULT`, uvicorn) on a loopback port in a thread, for browsers, aiortc peers,
sockets and anything that needs a real connection; and :class:`InProcess`, the same application reached
through httpx's ASGI transport without a server, for tests that need only HTTP requests and answers
(no start-up of a server, no sockets: faster).

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

import httpx
import uvicorn
from fastapi import FastAPI
from starlette.types import Message

from visitt import accounts, demo
from visitt.app import create_app
from visitt.messaging.outbox import Backend, FileBackend
from visitt.settings import Settings
from visitt.ops.serving import DEFAULT, uvicorn_config
from visitt.web.slow_clients import uvicorn_options

T = TypeVar("T")
# How long a test's request to a LiveServer may take (httpx's default is 5 s), and a coroutine run on a
# node's loop (an InProcess request among them; 10 s ran out at a load of 80): on a test machine whose
# load is fifteen times its cores, a server thread is starved of the CPU that long, and the test would
# fail on the time rather than on what it checks.
TIMEOUT = 30.0


class _Requests:
    """:meth:`get`, :meth:`post` and friends around one :meth:`request`, as on ``httpx.Client``."""

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        raise NotImplementedError

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)

    def put(self, url: str, **options: Any) -> httpx.Response:
        return self.request("PUT", url, **options)

    def patch(self, url: str, **options: Any) -> httpx.Response:
        return self.request("PATCH", url, **options)

    def delete(self, url: str, **options: Any) -> httpx.Response:
        return self.request("DELETE", url, **options)

    def head(self, url: str, **options: Any) -> httpx.Response:
        return self.request("HEAD", url, **options)


class _Node(_Requests):
    """What both kinds of test node offer: requests (as ``httpx.get`` and friends would send them, so no
    cookies are kept; ``client()`` for a client that keeps them), and what patients and staff would
    receive, read from the files the test backends write."""

    settings: Settings
    outbox: Path
    url: str

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


@dataclass
class LiveServer(_Node):
    """Visitt on a loopback port in a thread of this process, with the SMS written to a file (or sent
    through ``sms_backend``, when given). Without a ``public_url`` in the settings, the server's own
    address is its public URL (links in SMS and e-mails point back to it)."""

    settings: Settings
    sms_backend: Backend | None = None
    port: int = 0  # 0: any free one; a restarted server takes its predecessor's, so pages find it again
    url: str = ""
    outbox: Path = field(default_factory=Path)
    token: str = ""
    # further listening sockets served alongside the loopback one (a test network's address, tests/network.py)
    extra_listeners: list[socket.socket] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> "LiveServer":
        self.outbox = self.settings.data_dir / "sms.jsonl"
        # the socket first: its port is in the public URL the app is created with
        # IPPROTO_TCP by name: asyncio sets TCP_NODELAY only on sockets that say they are TCP. Without it, a
        # response written in two parts (headers, body) waited for the client's delayed ACK: 40 ms a request
        # on a kept-alive connection (`visitt serve` binds through uvicorn, whose sockets say so).
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
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
            self.loop.run_until_complete(self._server.serve(sockets=[listener, *self.extra_listeners]))
        finally:
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = TIMEOUT) -> T:
        """Run ``coroutine`` on the server's own event loop (e.g. to close a socket from the server side)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """``httpx.request`` to this server (``url`` may be a path), waiting up to :data:`TIMEOUT` s for it
        unless ``timeout`` says otherwise."""
        return httpx.request(method, httpx.URL(self.url).join(url), **{"timeout": TIMEOUT, **options})

    def client(self, **options: Any) -> httpx.Client:
        """``httpx.Client(base_url=self.url, **options)``, with a :data:`TIMEOUT` unless ``timeout`` is given."""
        return httpx.Client(base_url=self.url, **{"timeout": TIMEOUT, **options})


@dataclass
class InProcess(_Node):
    """Visitt without a server: the application on an event loop in a thread of this process, its
    lifespan run through the ASGI lifespan protocol (migrations, the outbox sender, reminders), and
    requests handed to it by httpx's :class:`~httpx.ASGITransport` as from ``127.0.0.1``. The same
    conveniences as :class:`LiveServer` (``url``, ``token``, ``database``, :meth:`sms`, :meth:`mail`,
    :meth:`call`); :meth:`get`, :meth:`post` and friends stand for ``httpx.get`` and friends (no cookies
    kept), :meth:`client` for an ``httpx.Client`` (cookies kept). What only a server does is missing:
    WebSockets, ``X-Forwarded-For`` (uvicorn's proxy headers), keep-alive and body timeouts."""

    settings: Settings
    sms_backend: Backend | None = None
    url: str = "http://visitt.test"  # a name, not an address: nothing listens
    outbox: Path = field(default_factory=Path)
    token: str = ""
    _thread: threading.Thread | None = None

    def start(self) -> "InProcess":
        self.outbox = self.settings.data_dir / "sms.jsonl"
        if not self.settings.public_url:
            self.settings = self.settings.but(public_url=self.url)
        self.app: FastAPI = create_app(self.settings, sms_backend=self.sms_backend or FileBackend(self.outbox))
        # raise_app_exceptions off: an unhandled error is a 500 answer, as from a server, not a raise here
        self.transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._lifespan_in: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan_out: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan = self.call(self._start_lifespan(), timeout=60)
        self._lifespan_step("lifespan.startup")
        self.database = self.app.state.database
        with self.database.session() as session:
            demo.seed(session)
            self.token = accounts.create_api_token(session, demo.PEOPLE[0][0])
        return self

    async def _start_lifespan(self) -> "asyncio.Task[None]":
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        return asyncio.ensure_future(self.app(scope, self._lifespan_in.get, self._lifespan_out.put))

    def _lifespan_step(self, message: str) -> None:
        """Send ``lifespan.startup`` or ``lifespan.shutdown`` and wait for ``<that>.complete``."""
        async def step() -> Message:
            await self._lifespan_in.put({"type": message})
            return await self._lifespan_out.get()
        answer = self.call(step(), timeout=60)
        if answer["type"] != f"{message}.complete":
            raise RuntimeError(f"{message} failed: {answer.get('message', answer['type'])}")

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = TIMEOUT) -> T:
        """Run ``coroutine`` on the application's event loop."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        if self._thread is None:
            return
        try:
            self._lifespan_step("lifespan.shutdown")
            self.call(asyncio.wait_for(self._lifespan, 10))
        finally:
            self.call(self.loop.shutdown_asyncgens())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()
            self._thread = None

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """One request, as ``httpx.request`` would send it: a client of its own, so no cookies kept."""
        cookies = options.pop("cookies", None)  # as httpx.request takes them: the client's, not the request's

        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport, base_url=self.url, cookies=cookies) as client:
                return await client.request(method, url, **options)
        return self.call(send())

    def client(self, **options: Any) -> "Client":
        """A client that keeps its cookies, like ``httpx.Client(base_url=self.url, **options)``: the
        same methods, run on the application's loop; close it, or use it in a ``with`` block."""
        return Client(self, httpx.AsyncClient(transport=self.transport, base_url=self.url, **options))


@dataclass
class Client(_Requests):
    """:meth:`InProcess.client`'s client."""

    node: InProcess
    async_client: httpx.AsyncClient

    @property
    def cookies(self) -> httpx.Cookies:
        return self.async_client.cookies

    @property
    def headers(self) -> httpx.Headers:
        return self.async_client.headers

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        return self.node.call(self.async_client.request(method, url, **options))

    def close(self) -> None:
        self.node.call(self.async_client.aclose())

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
