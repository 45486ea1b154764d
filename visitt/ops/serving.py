"""The ASGI server Visitt runs under, through each server's public interface only.

``visitt serve`` and ``visitt demo`` run the server named by ``VISITT_SERVER`` (:data:`SERVERS`;
:data:`DEFAULT` unless told otherwise, chosen on the figures in ``docs/performance.md``);
:class:`visitt.testing.LiveServer` runs uvicorn, with the WebSocket implementation the settings name.

What every server is told about WebSockets: no permessage-deflate where the server lets it be
turned off (its zlib state costs about 40 KiB a socket, for messages mostly under 1 KiB); no
WebSocket-level pings (the signaling protocol's own ping keeps the socket alive and finds dead
ones); messages up to 1 MiB (the signaling layer refuses anything over its own, smaller limit).
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from starlette.types import ASGIApp

from visitt.ops import collector
from visitt.live.cluster import Cluster
from visitt.live.connections import Connections
from visitt.settings import SERVERS, Settings
from visitt.web.slow_clients import uvicorn_options

UVICORN = {"uvicorn-websockets-sansio": "websockets-sansio", "uvicorn-websockets": "websockets",
           "uvicorn-wsproto": "wsproto"}  # VISITT_SERVER → uvicorn's ``ws`` option
DEFAULT: str = Settings.model_fields["server"].default
MAX_MESSAGE = 1 << 20


def uvicorn_websockets(server: str = DEFAULT) -> dict[str, Any]:
    """uvicorn's options for the WebSocket implementation ``server`` names, as the module docstring says."""
    return {"ws": UVICORN[server], "ws_max_size": MAX_MESSAGE, "ws_per_message_deflate": False,
            "ws_ping_interval": None, "ws_ping_timeout": None}


def uvicorn_config(app: ASGIApp, server: str = DEFAULT, **options: Any) -> Any:
    """A ``uvicorn.Config`` for ``app`` with the WebSocket implementation ``server`` names."""
    import uvicorn

    return uvicorn.Config(app, **uvicorn_websockets(server), **options)


class Process:
    """What only a serving process does, not a test server or a program that imports Visitt: catch
    SIGTERM and SIGINT ahead of the server to drain the node (:class:`visitt.ops.shutdown.Drain`), and
    keep the garbage collector's pauses short (:mod:`visitt.ops.collector`). The application's lifespan
    calls :meth:`started` once the server is up and :meth:`stopping` first thing at shutdown."""

    def __init__(self, connections: Connections, cluster: Cluster) -> None:
        from visitt.ops.shutdown import Drain

        self.drain = Drain(connections, cluster)
        self.keeper: asyncio.Task[None] | None = None

    def started(self) -> None:
        self.drain.install()
        self.keeper = asyncio.create_task(collector.keep())

    def stopping(self) -> None:
        if self.keeper is not None:
            self.keeper.cancel()


def serve(app: Any, settings: Settings, host: str, port: int) -> None:
    """Run ``app`` on ``host:port`` under ``settings.server`` until SIGTERM or SIGINT; exit 0 then,
    3 if the server could not start."""
    from visitt.ops.shutdown import REQUEST_TIMEOUT, exit_zero_on_sigterm

    if settings.server in UVICORN:
        import uvicorn

        app.state.process = Process(app.state.connections, app.state.cluster)
        # Access logs would carry invitation tokens in paths; they stay off. X-Forwarded-For is believed
        # only from the trusted proxies: code entry counts attempts per client address.
        with exit_zero_on_sigterm():
            uvicorn.run(app, **uvicorn_websockets(settings.server), host=host, port=port, access_log=False,
                        log_level="info", log_config=None, timeout_graceful_shutdown=int(REQUEST_TIMEOUT),
                        proxy_headers=True, forwarded_allow_ips=settings.trusted_proxies,
                        **uvicorn_options(settings))
    elif settings.server == "hypercorn":
        asyncio.run(_hypercorn(app, settings, host, port, REQUEST_TIMEOUT))
    elif settings.server == "granian":
        _granian(app, settings, host, port)
    else:
        raise ValueError(f"VISITT_SERVER must be one of {', '.join(SERVERS)}")


async def _hypercorn(app: Any, settings: Settings, host: str, port: int, grace: float) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config
    from hypercorn.middleware import ProxyFixMiddleware

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.websocket_max_message_size = MAX_MESSAGE
    config.websocket_ping_interval = None
    config.graceful_timeout = grace
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def stopped() -> None:
        await stop.wait()
        from visitt.ops.shutdown import Drain

        await Drain(app.state.connections, app.state.cluster).drain()

    keeper = asyncio.create_task(collector.keep())
    try:
        # hypercorn believes X-Forwarded-For from one proxy hop, whoever sent it: run it behind a proxy only
        await hypercorn_serve(ProxyFixMiddleware(app, mode="legacy", trusted_hops=1), config,
                              shutdown_trigger=stopped)
    finally:
        keeper.cancel()


_GRANIAN_APP: Any = None  # the application a forked granian worker serves (:func:`granian_target`)


def granian_target() -> Any:
    """What granian's worker loads (``visitt.ops.serving:granian_target``, a factory): the application
    built before granian forked its worker, behind granian's own proxy-header handling."""
    from granian.utils.proxies import wrap_asgi_with_proxy_headers

    return wrap_asgi_with_proxy_headers(_GRANIAN_APP, trusted_hosts=_GRANIAN_TRUSTED)


_GRANIAN_TRUSTED: list[str] = []


def _granian(app: Any, settings: Settings, host: str, port: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    global _GRANIAN_APP, _GRANIAN_TRUSTED
    _GRANIAN_APP = app
    _GRANIAN_TRUSTED = [address.strip() for address in settings.trusted_proxies.split(",") if address.strip()]
    Granian("visitt.ops.serving:granian_target", address=host, port=port, interface=Interfaces.ASGI, workers=1,
            factory=True, websockets=True, log_access=False).serve()
