"""``visitt serve`` under the other ASGI servers ``VISITT_SERVER`` can name (visitt/ops/serving.py): a patient
knocks and the clinician's dashboard hears it, and SIGTERM stops the server with status 0. Each case needs its
server's extra installed (``pip install 'visitt[hypercorn]'``, ``'visitt[granian]'``) and is skipped without it."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest

from .conftest import settings_from

from .peers import WsClient, run, staff_login
from .serve import STAFF_PASSWORD, ServeProcess

EMAIL = "lege.legesen@sykehuset.example"


def test_an_unknown_server_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="VISITT_SERVER: Input should be 'uvicorn-websockets-sansio'"):
        settings_from(monkeypatch, VISITT_SERVER="gunicorn")


@pytest.mark.parametrize("server", ["hypercorn", "granian", "uvicorn-wsproto"])
def test_a_knock_reaches_the_dashboard_and_sigterm_stops_the_server(tmp_path: Path, server: str) -> None:
    if importlib.util.find_spec(server.split("-")[-1]) is None:
        pytest.skip(f"{server} is not installed")
    node = ServeProcess(tmp_path, email=EMAIL, name="Lege Legesen", VISITT_SERVER=server).start()
    try:
        _, token = node.book("Pasient Pasientsen")
        cookie = staff_login(node, EMAIL, STAFF_PASSWORD)  # type: ignore[arg-type]

        async def scenario() -> str:
            clinician = await WsClient.staff(node, cookie)  # type: ignore[arg-type]
            await clinician.hello()
            await clinician.expect("lobby")
            patient = await WsClient.guest(node, token)  # type: ignore[arg-type]
            await patient.hello()
            await patient.send({"type": "knock", "name": "Pasient Pasientsen"})
            await patient.expect("waiting")
            knock = await clinician.expect("knock")
            await asyncio.gather(patient.socket.close(), clinician.socket.close())
            return str(knock["participant"]["name"])

        assert run(scenario()) == "Pasient Pasientsen"
        node.sigterm()
        assert node.wait(20) == 0, node.stderr()
    finally:
        node.stop()
