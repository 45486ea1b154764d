"""Headers every response carries, CSRF for form posts, and who the caller is."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import httpx
from fastapi import Request
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from visitt.store import audit
from visitt.accounts import TokenRefused, staff_for_api_token, staff_for_session
from visitt.errors import Forbidden, NotAuthenticated
from visitt.store.models import Staff

SESSION_COOKIE = "visitt_session"
CSRF_COOKIE = "visitt_csrf"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(self), microphone=(self), display-capture=(self), geolocation=()"),
]


def headers_for(form_targets: tuple[str, ...] = ()) -> list[tuple[bytes, bytes]]:
    """:data:`HEADERS`, with the origins of ``form_targets`` where a form may lead besides Visitt itself:
    single sign-on's provider, where signing in and out (a form, then a redirect) ends."""
    if not form_targets:
        return HEADERS
    origins = " ".join(sorted({str(httpx.URL(target).copy_with(path="/", query=None)).rstrip("/")
                               for target in form_targets}))
    csp = CSP.replace("form-action 'self'", f"form-action 'self' {origins}")
    return [(b"content-security-policy", csp.encode()), *HEADERS[1:]]


# What a document (a page, an API answer, an error page) obeys. A stylesheet, a module or an image ignores
# the first three, and its referrer policy covers only what it fetches itself, whose referrer is then its own
# /static URL, never the page's link: a static file goes without them (375 bytes on each of a phone's
# requests). A worker is the exception: its policy and referrer policy are its script's response's.
DOCUMENT_ONLY = frozenset({b"content-security-policy", b"x-frame-options", b"permissions-policy",
                           b"referrer-policy"})
WORKERS = frozenset({"/static/js/e2ee_worker.js"})  # new Worker(...) in static/js/e2ee.js
WORKER_HEADERS = frozenset({b"content-security-policy", b"referrer-policy"})


def with_headers(scope: Scope, send: Send, headers_to_add: list[tuple[bytes, bytes]] = HEADERS) -> Send:
    """``send`` for an HTTP request, adding ``headers_to_add`` (:data:`HEADERS`) to its response, and
    ``Cache-Control: no-store`` to every response but a static file's. A static file (not an error about
    one: that is a page) gets no :data:`DOCUMENT_ONLY` header, but a worker's :data:`WORKER_HEADERS`."""
    static = scope["path"].startswith("/static/")
    left_out = DOCUMENT_ONLY - WORKER_HEADERS if scope["path"] in WORKERS else DOCUMENT_ONLY

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _ in headers}
            if static and message["status"] < 400:
                present |= left_out
            headers.extend(item for item in headers_to_add if item[0] not in present)
            if not static or message["status"] >= 400:
                headers = [item for item in headers if item[0].lower() != b"cache-control"]
                headers.append((b"cache-control", b"no-store"))
            message["headers"] = headers
        await send(message)

    return send_with_headers


class SecurityHeaders:
    """Pure ASGI middleware: :func:`with_headers` on every HTTP response that passes through the
    application's middleware (a 500 from an unhandled exception does not: ``visitt.app``'s handler for it
    sets them itself)."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]] = HEADERS) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            send = with_headers(scope, send, self.headers)
        await self.app(scope, receive, send)


def csrf_token(request: Request) -> str:
    """The token to put in a form; set as a cookie by :func:`remember_csrf` on the response."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token:
        token = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(24)
        request.state.new_csrf = token
    return token


def remember_csrf(request: Request, response: Any, secure: bool) -> None:
    token = getattr(request.state, "new_csrf", None)
    if token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/")


def check_csrf(request: Request, submitted: str | None) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not submitted or not hmac.compare_digest(cookie, submitted):
        raise Forbidden("The form has expired. Please reload the page and try again.", code="csrf_failed")


def session_staff(request: Request, session: Session) -> Staff | None:
    return staff_for_session(session, request.cookies.get(SESSION_COOKIE))


def bearer_staff(request: Request, session: Session) -> Staff:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated("Send an API token: Authorization: Bearer <token>.")
    try:
        staff = staff_for_api_token(session, token.strip())
    except TokenRefused as refused:
        # in a unit of work of its own: the request's is rolled back with the error
        with request.app.state.database.session() as own:
            audit.record(own, f"staff:{refused.staff_id}", "token_refused", subject=f"api_token:{refused.token_id}",
                         reason=refused.code)
        raise
    if staff is None:
        raise NotAuthenticated("The API token is not valid.")
    return staff
