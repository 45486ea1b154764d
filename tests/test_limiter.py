"""The limits of visitt/limiter.py, driven from outside over HTTP and WebSocket: open sockets per
link and per address, staff sign-in, outgoing SMS, and the shared counts in Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from visitt import demo
from visitt.limiter import CLOSE_TOO_MANY, Limiter
from visitt.store.models import OutboxMessage
from visitt.settings import Settings
from visitt.testing import LiveServer

from .conftest import make_settings
from .peers import TIMEOUT, WsClient, book, run, staff_login, ws_url


async def guest_socket(server: LiveServer, token: str, address: str = "") -> ClientConnection:
    headers = {"X-Forwarded-For": address} if address else None
    return await connect(ws_url(server, f"/ws/v/{token}"), additional_headers=headers, open_timeout=TIMEOUT)


async def close_code(socket: ClientConnection) -> int | None:
    """The code the server closed ``socket`` with, or None if it still answers a hello."""
    try:
        await socket.send('{"type": "hello", "version": 1}')
        async with asyncio.timeout(TIMEOUT):
            await socket.recv()
        return None
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006


@pytest.fixture
def capped(tmp_path: Path):  # type: ignore[no-untyped-def]
    live = LiveServer(make_settings(tmp_path, sockets_per_link=2, sockets_per_address=3, sockets_per_staff=3)).start()
    yield live
    live.stop()


def test_open_sockets_are_capped_per_link_and_per_address_and_freed_on_close(capped: LiveServer) -> None:
    _url, first = book(capped)
    _url, second = book(capped, "Ola Nordmann")

    async def scenario() -> None:
        a1, a2 = await guest_socket(capped, first), await guest_socket(capped, first)
        assert [await close_code(a1), await close_code(a2)] == [None, None]
        a3 = await guest_socket(capped, first)
        assert await close_code(a3) == CLOSE_TOO_MANY  # the link's cap, whatever the address
        await a3.close()
        b1 = await guest_socket(capped, second)
        assert await close_code(b1) is None  # the address's third
        b2 = await guest_socket(capped, second)
        assert await close_code(b2) == CLOSE_TOO_MANY  # the address's cap, though the link has room
        await b2.close()
        elsewhere = await guest_socket(capped, second, address="203.0.113.7")  # another client address
        assert await close_code(elsewhere) is None
        async with await WsClient.staff(capped, staff_login(capped)) as clinician:  # same address, not a guest
            await clinician.hello()
            await clinician.expect("lobby")
            cookie = staff_login(capped)
            desks = [await WsClient.staff(capped, cookie) for _ in range(2)]  # the account's cap is 3
            for desk in desks:
                await desk.hello()
            extra = await connect(ws_url(capped, "/ws/staff"), additional_headers={"Cookie": f"visitt_session={cookie}"},
                                  open_timeout=TIMEOUT)
            assert await close_code(extra) == CLOSE_TOO_MANY  # one staff account cannot hold the node's sockets
            await extra.close()
            for desk in desks:
                await desk.close()
        assert httpx.get(f"{capped.url}/healthz").status_code == 200
        await a1.close()
        async with asyncio.timeout(TIMEOUT):
            while True:  # the server hears of the close a moment later: then link and address have room again
                again = await guest_socket(capped, first)
                if await close_code(again) is None:
                    break
                await again.close()
                await asyncio.sleep(0.05)
        for socket in (a2, b1, elsewhere, again):
            await socket.close()

    run(scenario())


# --- staff sign-in ----------------------------------------------------------------------------

CLINICIAN = demo.PEOPLE[0][0]


def sign_in(http: httpx.Client, email: str, password: str, address: str) -> httpx.Response:
    if "visitt_csrf" not in http.cookies:
        assert http.get("/staff/login").status_code == 200
    return http.post("/staff/login", data={"email": email, "password": password, "csrf": http.cookies["visitt_csrf"]},
                     headers={"X-Forwarded-For": address})


def test_guessing_one_accounts_password_is_stopped_but_the_real_user_still_gets_in(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, headers={"Accept-Language": "en"}) as attacker:
        answers = [sign_in(attacker, CLINICIAN, f"guess number {n}", "198.51.100.66") for n in range(40)]
        assert [answer.status_code for answer in answers] == [401] * 5 + [429] * 35  # VISITT_LOGIN_FAILURES_PER_ACCOUNT
        refused = answers[-1]
        assert "Too many failed sign-ins" in refused.text and 0 < int(refused.headers["Retry-After"]) <= 60
        # the right password from the guessing address waits too: the guesser cannot tell a hit
        assert sign_in(attacker, CLINICIAN, demo.PASSWORD, "198.51.100.66").status_code == 429
    with httpx.Client(base_url=server.url) as clinician:  # the clinician, on a connection that has not failed
        assert sign_in(clinician, CLINICIAN, demo.PASSWORD, "203.0.113.20").status_code == 303
    with httpx.Client(base_url=server.url) as typo:  # ... and on one that failed once: refused while it lasts
        assert sign_in(typo, CLINICIAN, "a typo in it", "203.0.113.21").status_code == 401
        assert sign_in(typo, CLINICIAN, demo.PASSWORD, "203.0.113.21").status_code == 429


def test_one_address_guessing_many_accounts_is_stopped(tmp_path: Path) -> None:
    live = LiveServer(make_settings(tmp_path, login_failures_per_address=6)).start()
    try:
        with httpx.Client(base_url=live.url, headers={"Accept-Language": "nb"}) as http:
            codes = [sign_in(http, f"user{n}@example.org", "not the password", "198.51.100.7").status_code
                     for n in range(8)]
            assert codes == [401] * 6 + [429] * 2
            refused = sign_in(http, CLINICIAN, demo.PASSWORD, "198.51.100.7")  # any account, from that address
            assert refused.status_code == 429 and "For mange mislykkede innlogginger" in refused.text
            assert sign_in(http, CLINICIAN, demo.PASSWORD, "198.51.100.8").status_code == 303
    finally:
        live.stop()


def test_parallel_sign_ins_do_not_all_check_passwords_at_once(tmp_path: Path) -> None:
    """One password check at a time and no waiting for a turn: of twelve sign-ins sent together
    (each from its own address, for its own account, so no count stops them), some are told to try
    again in a moment instead of each taking an argon2 check's 64 MiB at once."""
    # the real argon2 cost: checks long enough to overlap
    live = LiveServer(make_settings(tmp_path, password_checks_at_once=1, password_check_wait=0.0,
                                    password_hashing="standard")).start()
    try:
        async def attempts() -> list[httpx.Response]:
            # TIMEOUT, not httpx's 5 s: at a load of 18 the one real argon2 check a 401 waits for took longer
            async with httpx.AsyncClient(base_url=live.url, headers={"Accept-Language": "en"}, timeout=TIMEOUT) as http:
                await http.get("/staff/login")
                csrf = http.cookies["visitt_csrf"]
                return await asyncio.gather(*(
                    http.post("/staff/login", data={"email": f"user{n}@example.org", "password": "wrong password",
                                                    "csrf": csrf}, headers={"X-Forwarded-For": f"192.0.2.{n}"})
                    for n in range(12)))

        answers = run(attempts())
        codes = sorted(answer.status_code for answer in answers)
        assert 401 in codes and 503 in codes and set(codes) == {401, 503}, codes
        busy = next(answer for answer in answers if answer.status_code == 503)
        assert "Try again in a moment" in busy.text and busy.headers["Retry-After"] == "1"
    finally:
        live.stop()


# --- outgoing SMS -----------------------------------------------------------------------------


def api_book(server: LiveServer, phone: str, *, days: int = 2) -> httpx.Response:
    starts_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).replace(microsecond=0)
    return httpx.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}",
                                                                      "Accept-Language": "en"},
                      json={"patient_name": "Kari Nordmann", "patient_phone": phone,
                            "starts_at": starts_at.isoformat(), "duration_minutes": 30})


def sms_queued(server: LiveServer) -> int:
    with server.database.session() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def test_an_api_token_cannot_send_unlimited_sms_to_one_number(tmp_path: Path) -> None:
    live = LiveServer(make_settings(tmp_path, sms_per_number=3)).start()
    try:
        booked = [api_book(live, "412 34 567", days=2 + n) for n in range(3)]
        assert [response.status_code for response in booked] == [201] * 3
        refused = api_book(live, "+47 412 34 567")  # the same number, written otherwise
        assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 3600
        error = refused.json()["error"]
        assert error["code"] == "too_many_sms_to_number" and "Too many SMS" in error["message"]
        moved = httpx.patch(f"{live.url}/api/v1/appointments/{booked[0].json()['id']}",
                            headers={"Authorization": f"Bearer {live.token}"},
                            json={"starts_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=9)).isoformat(),
                                  "duration_minutes": 30})
        assert moved.status_code == 429  # a move's SMS to that number too; and nothing was changed
        assert sms_queued(live) == 3
        assert api_book(live, "412 34 568").status_code == 201  # another number is not held up
    finally:
        live.stop()


def test_one_staff_member_cannot_send_unlimited_sms(tmp_path: Path) -> None:
    live = LiveServer(make_settings(tmp_path, sms_per_staff=4)).start()
    try:
        codes = [api_book(live, f"412 34 5{n:02d}").status_code for n in range(6)]
        assert codes == [201] * 4 + [429] * 2
        error = api_book(live, "412 34 599").json()["error"]
        assert error["code"] == "too_many_sms" and error["message"]
        assert sms_queued(live) == 4
    finally:
        live.stop()


# --- several nodes: the counts in Redis -------------------------------------------------------



def test_with_redis_the_counts_hold_across_nodes_and_restarts(tmp_path: Path, redis_url: str, prefix: str) -> None:
    def node(name: str) -> LiveServer:
        return LiveServer(make_settings(tmp_path / name, redis_url=redis_url, redis_prefix=prefix,
                                        code_attempts_per_address=3)).start()

    def try_code(server: LiveServer, code: str) -> int:
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/").status_code == 200
            return client.post("/", data={"code": code, "csrf": client.cookies["visitt_csrf"]},
                               headers={"X-Forwarded-For": "198.51.100.77"}).status_code

    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    first, second = node("a"), node("b")
    try:
        assert [try_code(first, code) for code in ("100001", "100002", "100003")] == [422] * 3
        assert try_code(second, "100004") == 429  # the other node knows
    finally:
        first.stop()
        second.stop()
    restarted = node("c")
    try:
        assert try_code(restarted, "100005") == 429  # and so does a node started afterwards
    finally:
        restarted.stop()
    client = redis.Redis.from_url(redis_url)
    try:
        stored = [key.decode() for key in client.scan_iter(f"{prefix}:limits:*")]
    finally:
        client.close()
    assert stored and not any("198.51.100.77" in key for key in stored)  # addresses are stored hashed


def test_while_redis_is_away_the_shared_limits_are_counted_on_the_node(caplog: pytest.LogCaptureFixture) -> None:
    limiter = Limiter(Settings(code_attempts_per_address=3), storage_uri="redis://127.0.0.1:1/0")  # nobody there
    assert [limiter.hit("code_address", "198.51.100.1") for _ in range(4)] == [True, True, True, False]
    assert limiter.retry_after("code_address", "198.51.100.1") > 0
    assert [record.getMessage() for record in caplog.records if record.name == "visitt.limiter"] == [
        "limiter: Redis unreachable (ConnectionError); counting on this node only"]  # once, not per request
