"""Gzip (visitt/web/compression.py): patient-facing text compressed, staff pages and WebSockets left alone."""

from __future__ import annotations

import pytest

from visitt.testing import InProcess, LiveServer

from .peers import WsClient, book, run

GZIP = {"Accept-Encoding": "gzip"}


@pytest.mark.in_process
def test_patient_page_and_static_files_are_compressed(server: InProcess) -> None:
    join_url, _ = book(server)
    for url in (join_url, f"{server.url}/static/js/call.js", f"{server.url}/static/css/visitt.css"):
        response = server.get(url, headers=GZIP)
        assert response.headers.get("content-encoding") == "gzip", url
        assert "accept-encoding" in response.headers["vary"].lower()
    plain = server.get(f"{server.url}/static/js/call.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers


@pytest.mark.in_process
def test_staff_pages_and_small_responses_are_not(server: InProcess) -> None:
    for path in ("/staff/login", "/healthz"):
        response = server.get(f"{server.url}{path}", headers=GZIP)
        assert response.status_code == 200
        assert "content-encoding" not in response.headers, path


def test_signaling_websocket_works_through_the_middleware(server: LiveServer) -> None:
    _, token = book(server)

    async def hello() -> dict[str, object]:
        async with await WsClient.guest(server, token) as patient:
            return await patient.hello()

    assert run(hello())["type"] == "welcome"
