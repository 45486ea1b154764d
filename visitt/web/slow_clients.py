"""Slow clients: how long an HTTP request may take to arrive, and how long an idle connection stays.

A client that opens connections and sends nothing, half its headers or half its body holds a file
descriptor and, once its headers are in, a request in flight. uvicorn's documented options bound
only one of these phases (measured in ``docs/deployment.md``, "Slow clients"):

- **idle after a response**: ``timeout_keep_alive`` (``VISITT_KEEP_ALIVE_TIMEOUT``) closes it;
- **headers**: nothing closes a connection that never finishes them (its keep-alive timer runs only
  between requests), and with httptools nothing bounds their size. Only a proxy in front bounds
  them: nginx's ``client_header_timeout`` and ``large_client_header_buffers``;
- **body**: nothing bounds its time, so :class:`BodyTimeout` does, in the application: the whole
  body must arrive within ``VISITT_BODY_TIMEOUT`` seconds of the headers, or the client gets 408.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from visitt.web.i18n import N_
from visitt.settings import Settings

TIMED_OUT = {"code": "request_timeout", "message": N_("The request took too long to arrive. Please try again.")}


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What uvicorn is told about idle connections (``visitt serve``, :mod:`visitt.testing`)."""
    return {"timeout_keep_alive": settings.keep_alive_timeout}


class BodyTimeout:
    """Pure ASGI middleware: a request's whole body must arrive within ``seconds`` of its headers.

    When it does not, the client gets ``respond(request)`` (the 408 in the one error shape) with
    ``Connection: close``, so uvicorn closes the connection instead of reading the rest of the body
    as a next request; the application's ``receive`` then reports the client gone, and anything the
    application still sends is dropped. Only reading the body is timed: a route that never reads it
    is not held up, and once the body is in, waiting for the client's disconnect is the route's
    own business. WebSockets are left alone.
    """

    def __init__(self, app: ASGIApp, seconds: float, respond: Callable[[Request], Response]) -> None:
        self.app, self.seconds, self.respond = app, seconds, respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        body_in = timed_out = started = False

        async def bounded_receive() -> Message:
            nonlocal body_in, timed_out
            if timed_out:
                return {"type": "http.disconnect"}
            if body_in:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                timed_out = True
                if not started:
                    response = self.respond(Request(scope))
                    response.headers["connection"] = "close"
                    await response(scope, _nothing, send)
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_in = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out:
                return  # the client has had its 408
            started = True
            await send(message)

        await self.app(scope, bounded_receive, guarded_send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
