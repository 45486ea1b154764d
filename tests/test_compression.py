"""Gzip (visitt/web/compression.py): patient-facing text compressed, staff pages and WebSockets left alone."""

from __future__ import annotations

import httpx

from visitt.testing import LiveServer

from .peers import WsClient, book, run

GZIP = {"Accept-Encoding": "gzip"}


def test_patient_page_and_static_files_are_compressed(server: LiveServer) -> None:
    join_url, _ = book(server)
    for url in (join_url, f"{server.url}/static/js/call.js", f"{server.url}/static/css/visitt.css"):
        response = httpx.get(url, headers=GZIP)
        assert response.headers.get("content-encoding") == "gzip", url
        assert "accept-encoding" in response.headers["vary"].lower()
    plain = httpx.get(f"{server.url}/static/js/call.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers


def test_staff_pages_and_small_responses_are_not(server: LiveServer) -> None:
    for path in ("/staff/login", "/healthz"):
        response = httpx.get(f"{server.url}{path}", headers=GZIP)
        assert response.status_code == 200
        assert "content-encoding" not in response.headers, path


def test_signaling_websocket_works_through_the_middleware(server: LiveServer) -> None:
    _, token = book(server)

    async def hello() -> dict[str, object]:
        async with await WsClient.guest(server, token) as patient:
            return await patient.hello()

    assert run(hello())["type"] == "welcome"
