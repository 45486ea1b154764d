"""Graceful shutdown (visitt/shutdown.py): SIGTERM to ``visitt serve`` while people are connected."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from sqlalchemy import select

from visitt.db import Database
from visitt.models import Participant, ParticipantState

from .peers import WsClient, run, staff_login
from .serve import STAFF_PASSWORD, ServeProcess

EMAIL = "lege.legesen@sykehuset.example"


async def _close_code(client: WsClient, timeout: float = 5.0) -> int | None:
    async with asyncio.timeout(timeout):
        await client.socket.wait_closed()
    return client.socket.close_code


def test_sigterm_closes_every_socket_with_going_away_and_exits_zero(tmp_path: Path) -> None:
    node = ServeProcess(tmp_path, email=EMAIL, name="Lege Legesen").start()
    try:
        _, token = node.book("Pasient Pasientsen")
        cookie = staff_login(node, EMAIL, STAFF_PASSWORD)  # type: ignore[arg-type]

        async def scenario() -> tuple[int | None, int | None, float]:
            patient = await WsClient.guest(node, token)  # type: ignore[arg-type]
            await patient.hello()
            await patient.send({"type": "knock", "name": "Pasient Pasientsen"})
            await patient.expect("waiting")
            clinician = await WsClient.staff(node, cookie)  # type: ignore[arg-type]
            await clinician.hello()
            await clinician.expect("lobby")
            started = time.monotonic()
            node.sigterm()
            codes = await asyncio.gather(_close_code(patient), _close_code(clinician))
            return codes[0], codes[1], time.monotonic() - started

        patient_code, clinician_code, closed_after = run(scenario())
        status = node.wait(10)
    finally:
        node.stop()

    assert (patient_code, clinician_code) == (1001, 1001)
    assert closed_after < 2
    assert status == 0
    lines = [json.loads(line) for line in node.stderr().splitlines()]
    assert not [line for line in lines if line["level"] in ("error", "critical")], lines
    # The node went away, the patient did not leave: still waiting, for whichever node they reach next.
    database = Database(f"sqlite:///{tmp_path / 'visitt.sqlite3'}")
    with database.session() as session:
        assert session.scalars(select(Participant.state)).all() == [ParticipantState.waiting]
    database.dispose()
