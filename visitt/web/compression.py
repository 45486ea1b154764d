"""Gzip for text responses: every byte sent to a patient's phone is paid for by someone on 4G.

Staff pages (``/staff``) go uncompressed. They carry the CSRF token beside text that others can
put there (patient names), the combination a BREACH attack needs to read a secret from the
compressed size; staff sit on hospital networks, where the bytes matter little. WebSockets pass
through untouched (their frames are not HTTP responses).
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# Below about one TCP segment, compressing saves no round trip, only CPU.
MINIMUM_SIZE = 1024
UNCOMPRESSED = ("/staff",)


class Compression:
    """Pure ASGI middleware: Starlette's gzip for every HTTP response outside :data:`UNCOMPRESSED`."""

    def __init__(self, app: ASGIApp, minimum_size: int = MINIMUM_SIZE) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(UNCOMPRESSED):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
