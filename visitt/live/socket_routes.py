"""The signaling sockets' way in: pure ASGI middleware, outermost of the application's own, that hands each
``websocket`` scope to a Starlette :class:`~starlette.routing.Router` holding the signaling routes.

A signaling socket stays open for a whole consultation, and every coroutine between the server and its
endpoint stays in memory with it. FastAPI's exception and exit-stack middleware and its routing do nothing
for these sockets, yet held about 7 KiB per socket (``bench/socket_memory.py``, ``docs/performance.md``).
Starlette documents both parts used here: middleware as a plain ASGI class (``app.add_middleware``) and the
``Router`` as an ASGI application of its own, whose ``default`` takes what none of its routes matches -
here the rest of the application, so a WebSocket route added the usual way still works.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Router
from starlette.types import ASGIApp, Receive, Scope, Send


class SocketRoutes:
    """Pure ASGI middleware: ``websocket`` scopes to ``routes`` first, everything else to ``app`` untouched."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.router = Router(routes=list(routes), default=app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.router(scope, receive, send)
        else:
            await self.app(scope, receive, send)
