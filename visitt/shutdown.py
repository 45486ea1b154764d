"""Stopping a node gracefully, on SIGTERM (systemd, Kubernetes) or Ctrl+C.

In order: the node stops listening; with several nodes, it gives its clinicians' rooms up to the
others (``visitt.cluster``); every signaling socket gets a close frame with 1001 (going
away), after the messages already queued for it, so browsers reconnect - to another node behind
a load balancer; uvicorn finishes the HTTP requests in flight; the lifespan lets the outbox
sender finish the SMS it is sending (``visitt.app``); the process exits with status 0.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from types import FrameType

import uvicorn

from . import collector
from .cluster import Cluster
from .connections import Connections

DRAIN_TIMEOUT = 5.0  # seconds for clients to answer the close frames
REQUEST_TIMEOUT = 10.0  # seconds for HTTP requests in flight, after the drain
STARTUP_FAILURE = 3  # uvicorn's exit status when the server could not start


class Server(uvicorn.Server):
    """uvicorn's server, closing the signaling sockets with 1001 before uvicorn closes what is left
    (with 1012, service restart)."""

    def __init__(self, config: uvicorn.Config, connections: Connections, cluster: Cluster) -> None:
        super().__init__(config)
        self.connections, self.cluster = connections, cluster

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        keeper = asyncio.create_task(collector.keep())  # the garbage collector's pauses kept short
        try:
            await super().serve(sockets)
        finally:
            keeper.cancel()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connections while the sockets drain
        await self.cluster.leave()  # first, so that the reconnecting browsers find their rooms elsewhere
        await self.connections.close_all(DRAIN_TIMEOUT)
        await super().shutdown(sockets)

    def serve_until_stopped(self) -> None:
        """Run until SIGTERM or SIGINT and return; exit with status 3 if the server could not start."""
        # uvicorn handles the signal, stops, then raises it again for the handler that was in place
        # before; this one turns that into a normal exit, status 0, instead of death by signal.
        previous = signal.signal(signal.SIGTERM, _exit_zero)
        try:
            self.run()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
        if not self.started:
            sys.exit(STARTUP_FAILURE)


def _exit_zero(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
