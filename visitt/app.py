"""The ASGI application: pages, JSON API, signaling WebSocket and the outbox sender, in one process."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import exc as sqlalchemy_errors
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, WebSocketRoute

from visitt import accounts, retention
from visitt.web import api, exports, patient as web_patient, portal as web_portal, staff as web_staff, training as web_training
from visitt.web import meetings as web_meetings, sso as web_sso
from visitt.sso import RelyingParty
from visitt.ops import health, metrics
from visitt.web import help_page
from visitt.web import admin as web_admin, admin_api
from visitt.messaging import fhir, hooks, mail, outbox, reminders, sms
from visitt.live import signaling, test_room, turn
from visitt.web.compression import Compression
from visitt.store.db import Database, outage
from visitt.web.deps import LoginRequired
from visitt.errors import INTERNAL, VisittError, describe
from visitt.live import deactivation
from visitt.web import account as web_account, staff_accounts_api
from visitt.live.cluster import Cluster
from visitt.live.hub import Hub
from visitt.web.i18n import N_, translations
from visitt.limiter import Limiter
from visitt.web.pages import language, render
from visitt.web.security import HEADERS, SecurityHeaders, headers_for
from visitt.web.slow_clients import TIMED_OUT, BodyTimeout
from visitt.web.stripped_js import StrippedModules
from visitt.live.socket_routes import SocketRoutes
from visitt.settings import Settings, load
from visitt.live.connections import Connections

log = logging.getLogger("visitt")
STATIC = Path(__file__).parent / "static"
SENDER_GRACE = 10.0  # seconds the outbox sender has at shutdown to finish the message it is sending


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/hooks/")) or "application/json" in request.headers.get("accept", "")


def error_response(request: Request, status: int, body: dict[str, object], *,
                   retry_after: int | None = None) -> Response:
    """The one error shape: ``{"error": {"code", "message", "fields"?}}`` for the API, a page otherwise."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if _wants_json(request):
        return JSONResponse({"error": body}, status_code=status, headers=headers)
    gettext = translations(language(request)).gettext
    # a page that may work again soon (the database away) loads itself again after Retry-After
    refresh = retry_after if retry_after is not None and request.method == "GET" else None
    response = render(request, "message.html", status_code=status, title=gettext(str(body["message"])),
                      text=gettext(N_("This page tries again by itself.")) if refresh else "", refresh=refresh)
    response.headers.update(headers)
    return response


def trailing_slash(request: Request) -> str | None:
    """For a page not found at ``/staff/``: ``/staff``, as a path only, so the redirect never names a host
    (Starlette's own ``redirect_slashes`` takes the host from the request's Host header). Only plain paths:
    ``//evil.example/`` or ``/\\evil.example/`` would be read by a browser as another site."""
    path = request.url.path
    stripped = path.rstrip("/")
    if request.method not in ("GET", "HEAD") or stripped == path or not _PLAIN_PATH.fullmatch(stripped):
        return None
    query = request.url.query
    return f"{stripped}?{query}" if query else stripped


_PLAIN_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)+")


def create_app(settings: Settings | None = None, *, sms_backend: outbox.Backend | None = None,
               mail_backend: outbox.Backend | None = None) -> FastAPI:
    settings = settings or load()
    accounts.use_hashing(settings.password_hashing)
    database = Database.from_settings(settings)
    backend = outbox.Channels({"sms": sms_backend or sms.backend_from_settings(settings),
                               "email": mail_backend or mail.backend_from_settings(settings),
                               **({fhir.CHANNEL: fhir.FhirBackend.from_settings(settings)}
                                  if fhir.configured(settings) else {})})

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(database.upgrade)
        sender = outbox.Sender(database, backend, interval=settings.outbox_interval,
                               keep_sent_bodies=settings.demo)
        app.state.sender = sender
        task = asyncio.create_task(sender.run())
        reminder_task = asyncio.create_task(reminders.run(database, settings, sender.wakeup.set))
        retention_task = asyncio.create_task(retention.run(database, settings))
        sweeper = asyncio.create_task(app.state.hub.sweep())
        deactivations = asyncio.create_task(deactivation.watch(app.state))
        await app.state.cluster.start()
        process = app.state.process  # set by visitt.ops.serving.serve, in a serving process only
        if process is not None:
            process.started()
        try:
            yield
        finally:
            if process is not None:
                process.stopping()
            await app.state.hub.close_all()  # first: no grace period may run out while the node stops
            sender.stop()  # not cancelled mid-send: a cancelled send may have gone out unrecorded
            done, _ = await asyncio.wait({task}, timeout=SENDER_GRACE)
            if not done:
                task.cancel()
            reminder_task.cancel()
            retention_task.cancel()
            sweeper.cancel()
            deactivations.cancel()
            await asyncio.gather(task, reminder_task, retention_task, sweeper, deactivations, return_exceptions=True)
            await app.state.test_room.close()
            await app.state.cluster.close()
            await app.state.hub.writes.close()
            database.dispose()

    # The signaling sockets: Starlette's plain WebSocketRoute (FastAPI's own would solve dependencies
    # per socket and keep their exit stack open for the whole call), reached through SocketRoutes,
    # ahead of the rest of the middleware (visitt/live/socket_routes.py; docs/performance.md).
    sockets: list[BaseRoute] = [
        WebSocketRoute("/ws/v/{token}", signaling.guest_endpoint),
        WebSocketRoute("/ws/v", signaling.guest_endpoint),  # with the guest pass from code entry
        WebSocketRoute("/ws/staff", signaling.staff_endpoint),
        WebSocketRoute("/ws/cohost/{participant}", signaling.cohost_endpoint)]
    # redirect_slashes off: Starlette builds that redirect from the request's Host; see trailing_slash
    app = FastAPI(title="Visitt", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json", redirect_slashes=False)
    app.state.settings = settings
    app.state.process = None  # visitt.ops.serving.Process under `visitt serve`
    app.state.database = database
    app.state.connections = Connections(tick=min(0.1, settings.ping_interval / 4))
    app.state.remembered = signaling.Remembered()
    app.state.metrics = metrics.Metrics(database)
    app.state.readiness = health.Readiness(database)
    app.state.limiter = Limiter(settings)
    app.state.sso = RelyingParty(settings) if settings.oidc_issuer else None  # single sign-on (visitt/sso.py)
    app.state.test_room = test_room.EchoRoom(settings, app.state.limiter)
    app.state.hub = Hub(database, auto_lock=settings.auto_lock, max_participants=settings.max_participants,
                        ice=lambda peer_id: {"iceServers": turn.ice_servers(settings, peer_id),
                                             "iceTransportPolicy": settings.ice_transport_policy},
                        on_admit=app.state.metrics.knock_to_admit.observe, grace=settings.reconnect_grace,
                        max_wait=dt.timedelta(minutes=settings.max_wait_minutes),
                        guests_may_share=settings.patients_may_share,
                        max_group_participants=settings.max_group_participants,
                        max_video_streams=settings.max_video_streams)
    if settings.janus_url:
        app.state.hub.use_janus(settings.janus_url, settings.janus_api_secret)
    app.state.cluster = Cluster.from_settings(app.state, settings)
    # innermost first: the body timeout's 408 passes through the security headers; a 500 from an unhandled
    # exception is answered outside every middleware (Starlette's ServerErrorMiddleware), so `internal` below
    # puts the headers on it itself
    app.add_middleware(BodyTimeout, seconds=settings.body_timeout,
                       respond=lambda request: error_response(request, 408, dict(TIMED_OUT)))
    # single sign-on's provider is where the sign-in and sign-out forms end (Content-Security-Policy form-action)
    app.add_middleware(SecurityHeaders, headers=headers_for((settings.oidc_issuer,) if settings.oidc_issuer else ()))
    app.add_middleware(Compression)
    app.add_middleware(SocketRoutes, routes=sockets)  # added last: the outermost of the application's own

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired):  # type: ignore[no-untyped-def]
        if _wants_json(request):
            return error_response(request, exc.status, exc.public())
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(VisittError)
    async def visitt_error(request: Request, exc: VisittError):  # type: ignore[no-untyped-def]
        return error_response(request, exc.status, exc.public(), retry_after=exc.retry_after)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError):  # type: ignore[no-untyped-def]
        fields = {}
        for error in exc.errors():
            location = [str(part) for part in error["loc"] if part not in ("body", "query", "path")]
            fields[".".join(location) or "body"] = error["msg"]
        return error_response(request, 422, {"code": "validation_failed", "message": N_("The request is not valid."),
                                             "fields": fields})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):  # type: ignore[no-untyped-def]
        if exc.status_code == 404 and (moved := trailing_slash(request)) is not None:
            return RedirectResponse(moved, status_code=307)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(request, exc.status_code, {"code": code, "message": str(exc.detail)})

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):  # type: ignore[no-untyped-def]
        route = request.scope.get("route")
        log.error("internal error on %s %s: %s", request.method, getattr(route, "path", "?"), describe(exc))
        response = error_response(request, 500, dict(INTERNAL))
        response.headers.update({name.decode(): value.decode() for name, value in HEADERS})
        response.headers["Cache-Control"] = "no-store"
        return response

    # the database away: one typed error, whichever request met it (visitt.store.db.outage)
    @app.exception_handler(sqlalchemy_errors.DBAPIError)
    @app.exception_handler(sqlalchemy_errors.TimeoutError)
    async def database_error(request: Request, exc: Exception):  # type: ignore[no-untyped-def]
        unavailable = outage(exc)
        if unavailable is None:
            return await internal(request, exc)
        route = request.scope.get("route")
        log.warning("database unavailable on %s %s: %s", request.method, getattr(route, "path", "?"), describe(exc))
        return await visitt_error(request, unavailable)

    # The static files first: a page's dozen requests for them then match the first route, not the last of
    # a hundred (2-3 ms of a static request went to FastAPI trying every route before them). The modules go
    # without their comments (visitt/web/stripped_js.py), ahead of the other static files.
    app.mount("/static/js", StrippedModules(STATIC / "js"), name="js")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router)
    app.include_router(web_meetings.api)
    app.include_router(web_meetings.pages)
    app.include_router(admin_api.router)
    app.include_router(web_admin.router)
    app.include_router(exports.router)
    app.include_router(web_staff.router)
    app.include_router(web_training.router)
    app.include_router(web_account.router)
    app.include_router(staff_accounts_api.router)
    app.include_router(web_sso.router)
    app.include_router(web_patient.router)
    app.include_router(help_page.router)
    if settings.portal_path:
        app.include_router(web_portal.router, prefix=settings.portal_path)
    app.include_router(test_room.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(hooks.router)
    return app
