"""Graceful shutdown (visitt/ops/shutdown.py): SIGTERM to ``visitt serve`` while people are connected."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from visitt.store.db import Database
from visitt.store.models import OutboxMessage, Participant, ParticipantState
from visitt.testing import LiveServer

from .conftest import make_settings
from .peers import WsClient, book, in_call, run, staff_login
from .serve import STAFF_PASSWORD, ServeProcess
from .test_signaling import audit_trail

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


class SlowOperator:
    """An SMS operator that, once :meth:`slow_down` is called, takes ``seconds`` over each message:
    a stopping server waits for the message it is sending, so its shutdown takes that long."""

    name = "slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.slow = False
        self.sending = threading.Event()  # set when a slow send has begun

    def slow_down(self) -> None:
        self.slow = True

    async def send(self, message: OutboxMessage) -> None:
        if self.slow:
            self.sending.set()
            await asyncio.sleep(self.seconds)


def test_a_server_stopping_while_a_guest_is_away_keeps_her_place_and_leaves_nothing_running(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The patient's socket dropped (her grace period is running) when the server is told to stop,
    and the stop takes longer than the grace (an SMS is being sent). The grace period must not run
    out inside the stopping server: her place is still hers after the restart, and nothing the hub
    started is left pending when the event loop closes ("Task was destroyed", "Event loop is closed")."""
    settings = make_settings(tmp_path, database_url, reconnect_grace=1.5)
    operator = SlowOperator(seconds=3.5)  # the stop waits for it, well past the grace
    first = LiveServer(settings, sms_backend=operator).start()
    _url, token = book(first)
    cookie = staff_login(first)

    async def before() -> str:
        host, guest, room = await in_call(first, cookie, token)
        operator.slow_down()
        book(first, "Ola Nordmann")  # an SMS the stopping server will wait for
        assert await asyncio.to_thread(operator.sending.wait, 10)
        await guest.close()  # her phone's connection drops
        await host.expect("away")
        await asyncio.to_thread(first.stop)  # within her grace
        await host.close()
        keys.append(guest.key)
        return room

    keys: list[str | None] = []  # her page's place key, which it keeps across the restart
    with caplog.at_level(logging.WARNING):
        room = run(before())
        gc.collect()  # a task left pending is reported when it is collected
    assert not first._thread.is_alive()  # type: ignore[union-attr]
    problems = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert problems == []

    second = LiveServer(settings).start()
    try:
        assert ("leave", "system") not in audit_trail(second, room)

        async def after() -> None:
            async with await WsClient.guest(second, token) as guest:
                await guest.hello()
                await guest.send({"type": "rejoin", "key": keys[0]})
                assert (await guest.expect("admitted"))["resumed"] is True

        run(after())
    finally:
        second.stop()


def test_a_node_that_cannot_listen_exits_with_status_three_and_says_why(tmp_path: Path) -> None:
    """An operator (or systemd) sees a failed start as one: status 3, and the reason in the log."""
    node = ServeProcess(tmp_path, email=EMAIL, name="Lege Legesen")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", node.port))
        taken.listen()
        with node.stderr_path.open("wb") as stderr:
            process = subprocess.Popen([sys.executable, "-m", "visitt", "serve", "--port", str(node.port)],
                                       env=node.env, stdout=subprocess.DEVNULL, stderr=stderr)
            try:
                status = process.wait(240)  # 87 s at a load of 70 on two cores
            finally:
                if process.poll() is None:  # it did not give up: it must not outlive the test
                    process.kill()
                    process.wait()
    assert status == 3
    assert "address already in use" in node.stderr().lower()
