"""Stopping a node gracefully, on SIGTERM (systemd, Kubernetes) or Ctrl+C.

In order: with several nodes, the node gives its clinicians' rooms up to the others
(``visitt.live.cluster``); every signaling socket gets a close frame with 1001 (going away), after the
messages already queued for it, so browsers reconnect - to another node behind a load balancer - and
a socket that arrives meanwhile is sent away the same way; then the signal goes on to the ASGI
server, which finishes the HTTP requests in flight; the lifespan lets the outbox sender finish the
SMS it is sending (``visitt.app``); the process exits with status 0.

Only documented interfaces are used: the server is started with ``uvicorn.run``, and the drain sits
in front of the server's own signal handlers through Python's ``signal`` and asyncio's
``add_signal_handler``. When the drain is done the signal is handed to the handler that was in place
before it (the server's), exactly as if the drain were not there.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from visitt.live.cluster import Cluster
from visitt.live.connections import Connections

DRAIN_TIMEOUT = 5.0  # seconds for clients to answer the close frames
REQUEST_TIMEOUT = 10.0  # seconds for HTTP requests in flight, after the drain
SIGNALS = (signal.SIGTERM, signal.SIGINT)

log = logging.getLogger("visitt.shutdown")
Handler = Callable[[int, FrameType | None], Any] | int | None


class Drain:
    """Catches SIGTERM and SIGINT ahead of the server, drains the node, then passes the signal on.

    :meth:`install` is called from the application's lifespan once the server has started (and so
    has put its own handlers in place). A second signal during the drain goes straight on.
    """

    def __init__(self, connections: Connections, cluster: Cluster) -> None:
        self.connections, self.cluster = connections, cluster
        self.passed_on: dict[int, Handler] = {}
        self.draining: asyncio.Task[None] | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            self.passed_on[signum] = signal.getsignal(signum)
            loop.add_signal_handler(signum, self._caught, signum)

    def _caught(self, signum: int) -> None:
        if self.draining is not None:  # asked twice: do not wait for the drain
            self._pass_on(signum)
            return
        log.info("stopping: closing the signaling sockets")
        self.draining = asyncio.get_running_loop().create_task(self._drain_then_pass_on(signum))

    async def drain(self) -> None:
        """Give the rooms up, then close every signaling socket with 1001 (also hypercorn's shutdown trigger)."""
        await self.cluster.leave()  # first, so that the reconnecting browsers find their rooms elsewhere
        await self.connections.close_all(DRAIN_TIMEOUT)

    async def _drain_then_pass_on(self, signum: int) -> None:
        try:
            await self.drain()
        finally:
            self._pass_on(signum)

    def _pass_on(self, signum: int) -> None:
        loop = asyncio.get_running_loop()
        for caught in SIGNALS:
            loop.remove_signal_handler(caught)
            signal.signal(caught, self.passed_on[caught])
        handler = self.passed_on[signum]
        if callable(handler):
            handler(signum, None)
        else:  # nobody else handles it: the default action
            signal.raise_signal(signum)


@contextmanager
def exit_zero_on_sigterm() -> Iterator[None]:
    """A server that stopped on SIGTERM raises the signal again for the handler in place before it:
    this one makes that a normal exit, status 0, instead of death by signal."""
    previous = signal.signal(signal.SIGTERM, _exit_zero)
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_zero(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)
