"""The six-digit code on the front page, over real HTTP and a real database: it leads to the same page and
socket as the link, every wrong code gets the same answer, and guessing runs into the attempt limits."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import connect

from visitt.store import audit
from visitt import code_entry
from visitt.store.db import Database
from visitt.errors import RateLimited
from visitt.limiter import Limiter, Rule
from visitt.store.models import (
    Appointment,
    AppointmentState,
    GuestPass,
    Participant,
    RoomState,
)
from visitt.settings import Settings
from visitt.testing import InProcess, LiveServer

from .conftest import make_settings
from .peers import WsClient, run, staff_login, ws_url

WRONG = "No consultation can be opened with this number now."


@pytest.fixture
def clinic(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    """A live server with the real link window: from 30 minutes before to 4 hours after."""
    live = LiveServer(make_settings(tmp_path, database_url, link_opens_minutes=30, link_closes_hours=4)).start()
    yield live
    live.stop()


def book(server: LiveServer, minutes: int = 10) -> dict[str, object]:
    starts_at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    response = server.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                           json={"patient_name": "Kari Nordmann", "patient_phone": "412 34 567",
                                 "starts_at": starts_at.isoformat(), "duration_minutes": 30})
    assert response.status_code == 201, response.text
    return dict(response.json())


@contextmanager
def visitor(server: LiveServer | InProcess, language: str = "en") -> Iterator[httpx.Client]:
    """A visitor on the front page, with the CSRF cookie a browser would get there."""
    with server.client(headers={"Accept-Language": language}) as client:
        assert client.get("/").status_code == 200
        yield client


def enter(client: httpx.Client, code: str, address: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    return client.post("/", data={"code": code, "csrf": client.cookies["visitt_csrf"]}, headers=headers)


def wrong_codes(count: int, real: str) -> list[str]:
    rng = random.Random(4)
    codes = {f"{rng.randrange(1_000_000):06d}" for _ in range(count * 2)} - {real}
    return sorted(codes)[:count]


@pytest.mark.in_process
def test_front_page_asks_for_the_code(server: InProcess) -> None:
    page = server.get(server.url + "/", headers={"Accept-Language": "en"})
    assert "Enter the six-digit number from your SMS" in page.text
    assert 'inputmode="numeric"' in page.text and 'autocomplete="one-time-code"' in page.text
    with visitor(server, "nb") as client:
        malformed = enter(client, "12345")
        assert malformed.status_code == 422 and "Skriv de seks sifrene fra SMS-en" in malformed.text
        assert 'aria-invalid="true"' in malformed.text
        forged = client.post("/", data={"code": "123456", "csrf": "forged"})
        assert forged.status_code == 403


def test_code_leads_to_the_patient_page_and_a_knock(pg_server: LiveServer) -> None:
    booked = book(pg_server)
    code = str(booked["code"])
    with visitor(pg_server) as client:
        response = enter(client, f"{code[:3]} {code[3:]}")  # as the SMS shows it, or as typed with a space
        assert response.status_code == 303 and response.headers["location"] == "/v"
        cookie = response.headers["set-cookie"].lower()
        assert cookie.startswith("visitt_guest=") and "httponly" in cookie and "samesite=strict" in cookie
        page = client.get("/v")
        assert page.status_code == 200 and "Your full name" in page.text and "Kari" not in page.text
        guest_pass = client.cookies["visitt_guest"]
    assert pg_server.get(pg_server.url + "/v", headers={"Accept-Language": "en"}).status_code == 404  # no pass

    async def knock() -> None:
        async with await WsClient.staff(pg_server, staff_login(pg_server)) as host:
            await host.hello()
            await host.expect("lobby")
            socket = await connect(ws_url(pg_server, "/ws/v"),
                                   additional_headers={"Cookie": f"visitt_guest={guest_pass}"})
            async with WsClient(socket) as guest:
                await guest.hello()
                await guest.send({"type": "knock", "name": "Kari Nordmann"})
                await guest.expect("waiting")
                assert (await host.expect("knock"))["participant"]["name"] == "Kari Nordmann"

    run(knock())
    with pg_server.database.session() as session:
        appointment = session.get(Appointment, booked["id"])
        assert appointment is not None
        actions = [event.action for event in audit.events(session, room_id=appointment.room.id)]
    assert actions[:3] == ["booking", "code_entry", "knock"]  # then "leave", as the socket closed


def test_wrong_codes_from_one_address_are_stopped(pg_server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="visitt.code_entry")
    real = str(book(pg_server)["code"])
    guesses = wrong_codes(100, real)
    with visitor(pg_server) as client:
        answers = [enter(client, guess).status_code for guess in guesses]
        assert answers == [422] * 10 + [429] * 90  # VISITT_CODE_ATTEMPTS_PER_ADDRESS
        refused = enter(client, real)  # even the right code, from this address, for now
        assert refused.status_code == 429 and "Too many attempts" in refused.text
        assert "Wait 15 minutes" in refused.text
        assert "visitt_guest" not in client.cookies
    with visitor(pg_server) as elsewhere:  # another address is not held up
        assert enter(elsewhere, real, address="203.0.113.9").status_code == 303

    with pg_server.database.session() as session:
        assert session.scalar(select(func.count()).select_from(GuestPass)) == 1  # the other address's only
        assert len(audit.events(session, action="code_entry")) == 1
    alerts = [record for record in caplog.records if record.name == "visitt.code_entry"]
    assert [record.levelno for record in alerts] == [logging.WARNING]
    line = alerts[0].getMessage()
    assert "rate limit hit for address" in line
    assert "127.0.0.1" not in line and real not in line and not any(guess in line for guess in guesses)


def test_one_code_from_many_addresses_is_stopped(pg_server: LiveServer) -> None:
    real = str(book(pg_server)["code"])
    with visitor(pg_server) as client:
        answers = [enter(client, real, address=f"198.51.100.{n}").status_code for n in range(1, 12)]
        assert answers == [303] * 10 + [429]  # VISITT_CODE_ATTEMPTS_PER_CODE, though each address tried once
        guess = wrong_codes(1, real)[0]
        assert enter(client, guess, address="198.51.100.50").status_code == 422  # other codes still answer


def test_every_wrong_code_gets_the_same_answer(clinic: LiveServer) -> None:
    cancelled, ended, completed, expired, early, good = (book(clinic) for _ in range(6))
    early_code = str(book(clinic, minutes=2 * 24 * 60)["code"])  # valid, but its window has not opened
    with clinic.database.session() as session:
        def appointment(booked: dict[str, object]) -> Appointment:
            row = session.get(Appointment, booked["id"])
            assert row is not None
            return row
        appointment(cancelled).state = AppointmentState.cancelled
        appointment(ended).room.state = RoomState.ended
        appointment(completed).state = AppointmentState.completed
        appointment(expired).starts_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=5)  # closed 30 minutes ago
        codes = {str(row.code) for row in session.scalars(select(Participant))}
    unknown = next(code for code in wrong_codes(20, "") if code not in codes)
    tries = {"unknown": unknown, "cancelled": cancelled["code"], "ended": ended["code"],
             "completed": completed["code"], "expired": expired["code"], "too early": early_code}
    with visitor(clinic) as client:
        answers = {kind: enter(client, str(code), address=f"192.0.2.{n}") for n, (kind, code) in
                   enumerate(tries.items())}
        assert WRONG in answers["unknown"].text and "30 minutes before" in answers["unknown"].text
        for kind, answer in answers.items():
            assert (answer.status_code, answer.text) == (422, answers["unknown"].text), kind
        assert enter(client, str(good["code"]), address="192.0.2.99").status_code == 303


def test_limits_age_out_and_count_per_code(database: Database) -> None:
    """The counters on their own, with a look-back of a second: no booking needed, since every try is wrong."""
    settings = Settings(code_attempts_per_address=3, code_attempts_per_code=4)
    limiter = Limiter(settings)
    limiter.rules.update(code=Rule(4, 1), code_address=Rule(3, 1))
    with database.session() as session:
        for n in range(4):  # one code from four addresses
            assert code_entry.enter(session, "424242", f"10.0.0.{n}", settings, limiter) is None
        with pytest.raises(RateLimited):
            code_entry.enter(session, "424242", "10.0.0.99", settings, limiter)
        assert code_entry.enter(session, "434343", "10.0.0.99", settings, limiter) is None
        for code in ("111111", "222222"):  # the address 10.0.0.99 fails its second and third time
            assert code_entry.enter(session, code, "10.0.0.99", settings, limiter) is None
        with pytest.raises(RateLimited) as refused:
            code_entry.enter(session, "333333", "10.0.0.99", settings, limiter)
        assert refused.value.retry_after == 1
        time.sleep(1.1)
        assert code_entry.enter(session, "424242", "10.0.0.99", settings, limiter) is None  # both aged out
    assert code_entry.normalise(" 123-456 ") == "123456"
    assert code_entry.normalise("12345a") is None and code_entry.normalise("1234567") is None
