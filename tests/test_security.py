"""Security headers on every response, errors included (a static file's: only those it obeys); links and
redirects never built from a request's Host (visitt/web/security.py, visitt/app.py, visitt/web/deps.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from visitt.app import create_app
from visitt.testing import LiveServer
from visitt.web.security import CSP, DOCUMENT_ONLY

from .conftest import make_settings

EXPECTED = {
    "content-security-policy": "frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _assert_headers(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
    for name, value in EXPECTED.items():
        assert value in response.headers.get(name, ""), f"{where}: {name} is {response.headers.get(name)!r}"


def _in_process(app: FastAPI, requests: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    """Send each request to ``app`` in process, without its lifespan; an unhandled exception is answered by
    the app (as uvicorn would deliver it), not raised into the test."""
    async def send() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://visitt") as client:
            return [await client.request(method, path, **options) for method, path, options in requests]
    return asyncio.run(send())


def test_errors_carry_the_security_headers_an_exception_and_a_database_outage_too(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a database port nobody listens on: every query fails
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    app = create_app(make_settings(tmp_path, f"postgresql+psycopg://visitt@127.0.0.1:{port}/visitt",
                                   public_url="https://video.example"))

    def explode() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/explode", explode)  # a route of the real app that raises: an unhandled exception
    json = {"Accept": "application/json"}
    responses = _in_process(app, [
        ("GET", "/explode", {}),
        ("GET", "/explode", {"headers": json}),
        ("GET", "/staff", {"headers": {"Cookie": "visitt_session=x"}}),  # the database is away: 503
        ("GET", "/api/v1/appointments", {"headers": {"Authorization": "Bearer x"}}),
        ("GET", "/no-such-page", {}),
        ("GET", "/static/no-such-file.css", {}),
        ("POST", "/healthz", {}),  # 405
        ("POST", "/api/v1/appointments", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}),
        ("GET", "/staff/appointments/99999999999999999999", {"headers": json}),  # 422, RequestValidationError
        ("GET", "/api/v1/appointments", {}),  # 401
    ])
    assert [response.status_code for response in responses] == [500, 500, 503, 503, 404, 404, 405, 422, 422, 401]
    assert responses[1].json() == {"error": {"code": "internal_error", "message": "internal server error"}}
    for response in responses:
        _assert_headers(response)
    app.state.database.dispose()


def test_every_status_over_http_carries_the_headers(tmp_path: Path) -> None:
    live = LiveServer(make_settings(tmp_path, code_attempts_per_address=1)).start()
    try:
        with httpx.Client(base_url=live.url) as client:
            csrf = client.get("/").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            answers = [client.post("/", data={"code": "000 000", "csrf": csrf}) for _ in range(2)]
            assert [answer.status_code for answer in answers] == [422, 429]
            answers += [client.get("/nope"), client.put("/staff/login"), client.post("/", data={"csrf": "forged"}),
                        client.get("/api/v1/appointments"), client.get("/staff?booked=x"),
                        client.get("/static/css/visitt.css"), client.get("/")]
            static = answers[-2]
            for answer in answers:
                if answer is not static:
                    _assert_headers(answer)
            assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")
            assert static.headers["x-content-type-options"] == "nosniff"
    finally:
        live.stop()


def test_static_files_go_without_the_document_headers_but_a_worker_keeps_its_policy(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    module, stylesheet, picture, worker, page = _in_process(app, [
        ("GET", "/static/js/patient.js", {}), ("GET", "/static/css/visitt.css", {}),
        ("GET", "/static/help/en-call.webp", {}), ("GET", "/static/js/e2ee_worker.js", {}), ("GET", "/", {})])
    revalidated, = _in_process(app, [("GET", "/static/js/patient.js",
                                      {"headers": {"If-None-Match": module.headers["etag"]}})])
    app.state.database.dispose()
    for response in (module, stylesheet, picture, revalidated):
        where = response.request.url.path
        assert response.status_code in (200, 304) and response.headers["x-content-type-options"] == "nosniff", where
        assert not DOCUMENT_ONLY & {name.encode() for name in response.headers}, where
    assert revalidated.status_code == 304
    # a dedicated worker's policy is its script's response's, not the page's
    assert worker.headers["content-security-policy"] == CSP and worker.headers["referrer-policy"] == "no-referrer"
    assert "x-frame-options" not in worker.headers and worker.headers["x-content-type-options"] == "nosniff"
    _assert_headers(page)
    assert "permissions-policy" in page.headers


def test_a_hostile_host_header_never_reaches_a_link_or_a_redirect(server: LiveServer) -> None:
    starts = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0).isoformat()
    evil = {"Host": "evil.example", "Authorization": f"Bearer {server.token}"}
    booked = httpx.post(f"{server.url}/api/v1/appointments", headers=evil, json={
        "patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": starts,
        "participants": [{"name": "Ola Nordmann", "kind": "companion", "phone": "412 34 568"}]})
    assert booked.status_code == 201, booked.text
    assert booked.json()["join_url"].startswith(f"{server.url}/v/")
    sms = server.sms(count=2)
    assert len(sms) == 2 and all(f"{server.url}/v/" in message["body"] for message in sms)
    assert not any("evil.example" in message["body"] for message in sms)

    for path in ("/staff/", "/staff/login/?lang=en", "/test/"):
        moved = httpx.get(f"{server.url}{path}", headers={"Host": "evil.example"})
        assert moved.status_code == 307 and moved.headers["location"] == path.replace("/?", "?").rstrip("/")
        _assert_headers(moved)
    for path in ("//evil.example/", "/\\evil.example/", "/staff/%2F%2Fevil.example/"):
        response = httpx.get(f"{server.url}{path}", headers={"Host": "evil.example"})
        assert response.status_code == 404 and "location" not in response.headers
