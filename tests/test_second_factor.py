"""The TOTP second factor through HTTP (in process): an administrator must set it up before anything else;
a code from pyotp signs in, the same code twice does not, a recovery code works once; wrong codes count
against the sign-in limits. Throttling: the lock-out's growth and bound."""

from __future__ import annotations

import re
import time

import httpx
import pyotp
import pytest
from sqlalchemy import select

from visitt import accounts, demo
from visitt.limiter import Limiter
from visitt.settings import Settings
from visitt.store import audit
from visitt.store.models import RecoveryCode, Role, Staff
from visitt.testing import Client, InProcess

pytestmark = pytest.mark.in_process

ADMIN = "admin@example.no"


def _client(server: InProcess, address: str = "203.0.113.5") -> Client:
    return server.client(headers={"Accept-Language": "en", "X-Forwarded-For": address}, follow_redirects=False)


def _csrf(client: httpx.Client, path: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert match, path
    return match.group(1)


def _password(client: httpx.Client, email: str = ADMIN, password: str = demo.PASSWORD) -> httpx.Response:
    return client.post("/staff/login", data={"email": email, "password": password,
                                             "csrf": _csrf(client, "/staff/login")})


def _code(client: httpx.Client, code: str) -> httpx.Response:
    return client.post("/staff/login/code", data={"code": code, "csrf": client.cookies["visitt_csrf"]})


def _admin(server: InProcess) -> int:
    with server.database.session() as session:
        return accounts.create_staff(session, email=ADMIN, full_name="Ada Admin", role=Role.admin,
                                     password=demo.PASSWORD, department=None).id


def _enrol(client: httpx.Client) -> tuple[str, list[str]]:
    """Set the second factor up on the enrolment page; the secret and the recovery codes shown."""
    page = client.get("/staff/account/second-factor")
    assert page.status_code == 200 and 'src="data:image/svg+xml' in page.text
    secret = re.search(r'id="secret" dir="ltr">([A-Z2-7]+)<', page.text)
    assert secret
    done = client.post("/staff/account/second-factor", data={
        "secret": secret.group(1), "code": pyotp.TOTP(secret.group(1)).now(), "csrf": client.cookies["visitt_csrf"]})
    assert done.status_code == 200, done.text
    codes = re.findall(r"<code dir=\"ltr\">([a-z0-9-]+)</code>", done.text)
    return secret.group(1), codes


def test_an_administrator_sets_up_the_second_factor_before_anything_else(server: InProcess) -> None:
    staff_id = _admin(server)
    with _client(server) as client:
        signed = _password(client)
        assert signed.status_code == 303 and signed.headers["location"] == "/staff/account/second-factor"
        # nothing else until it is done
        for path in ("/staff", "/staff/book"):
            refused = client.get(path)
            assert refused.status_code == 303 and refused.headers["location"] == "/staff/account/second-factor"
        page = client.get("/staff/account/second-factor")
        assert "Administrators must use a second factor" in page.text
        secret = re.search(r'id="secret" dir="ltr">([A-Z2-7]+)<', page.text)
        assert secret
        wrong = client.post("/staff/account/second-factor", data={"secret": secret.group(1), "code": "000000",
                                                                  "csrf": client.cookies["visitt_csrf"]})
        if pyotp.TOTP(secret.group(1)).verify("000000", valid_window=1):  # one chance in 300 000
            pytest.skip("the wrong code happened to be right")
        assert wrong.status_code == 422 and "That code is not right" in wrong.text
        assert secret.group(1) in wrong.text  # the same secret: the app already holds it
        with server.database.session() as session:
            assert session.get(Staff, staff_id).totp_secret is None  # nothing kept
        secret_text, codes = _enrol(client)
        assert len(codes) == 10 and len(set(codes)) == 10
        assert client.get("/staff").status_code == 200
    with server.database.session() as session:
        kept = session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.staff_id == staff_id)).all()
        assert len(kept) == 10 and not any(code.replace("-", "") in kept for code in codes)  # hashes only
        actions = [(event.action, event.detail) for event in audit.events(session) if event.actor == f"staff:{staff_id}"]
    assert ("second_factor_enrolled", {}) in actions and ("login", {"method": "enrolment"}) in actions


def test_sign_in_with_a_code_refuses_it_twice_and_takes_a_recovery_code_once(server: InProcess) -> None:
    _admin(server)
    with _client(server) as client:
        _password(client)
        secret, codes = _enrol(client)
    totp = pyotp.TOTP(secret)
    with _client(server) as client:
        asked = _password(client)
        assert asked.status_code == 303 and asked.headers["location"] == "/staff/login/code"
        waiting = client.get("/staff")  # not signed in yet: back to the code
        assert waiting.status_code == 303 and waiting.headers["location"] == "/staff/login/code"
        replayed = _code(client, totp.now())  # the code that set it up, in the same 30 seconds
        assert replayed.status_code == 401 and "That code has been used already" in replayed.text
        signed = _code(client, totp.at(time.time() + 30))  # the next step's (clocks drift: one step either side)
        assert signed.status_code == 303 and signed.headers["location"] == "/staff"
        assert client.get("/staff").status_code == 200
    with _client(server) as client:
        _password(client)
        assert _code(client, codes[0].upper().replace("-", " ")).status_code == 303  # typed loosely
    with _client(server) as client:
        _password(client)
        again = _code(client, codes[0])
        assert again.status_code == 401 and "That code is not right" in again.text
        assert _code(client, codes[1]).status_code == 303
        page = client.get("/staff/account/second-factor")
        assert "Recovery codes left: 8" in page.text


def test_wrong_codes_lock_the_account_out_with_the_time_to_wait(server: InProcess) -> None:
    _admin(server)
    with _client(server) as client:
        _password(client)
        secret, _codes = _enrol(client)
    with _client(server, "198.51.100.9") as attacker:  # knows the password, not the phone
        _password(attacker)
        answers = [_code(attacker, "12345" + str(n)) for n in range(6)]
        wrong = [answer for answer in answers if answer.status_code == 401]
        assert len(wrong) == 5, [answer.status_code for answer in answers]  # VISITT_LOGIN_FAILURES_PER_ACCOUNT
        locked = answers[-1]
        assert locked.status_code == 429 and "Wait 30 seconds and try again." in locked.text
        assert 0 < int(locked.headers["Retry-After"]) <= 30
    with _client(server, "203.0.113.77") as owner:  # the owner on a connection that has not failed gets in
        _password(owner)
        assert _code(owner, pyotp.TOTP(secret).at(time.time() + 30)).status_code == 303
    with server.database.session() as session:
        failed = [event.detail for event in audit.events(session, action="second_factor_failed")]
    assert len(failed) == 5 and failed[-1] == {"locked_seconds": 30}


def test_each_lock_out_doubles_up_to_the_cap(tmp_path: object) -> None:
    """The lock-out bound: 30 s, 60 s, 120 s ... never more than VISITT_LOGIN_ACCOUNT_MAX_MINUTES."""
    limiter = Limiter(Settings(login_failures_per_account=3, login_account_seconds=30, login_account_max_minutes=5))
    waits = []
    for _ in range(6):
        results = [limiter.fail("login_account", "a@example.no") for _ in range(3)]
        assert results[:2] == [0, 0]
        waits.append(results[2])
        assert 0 < limiter.locked_for("login_account", "a@example.no") <= results[2]
    assert waits == [30, 60, 120, 240, 300, 300]
    assert limiter.locked_for("login_account", "b@example.no") == 0  # per account


def test_a_locked_out_password_step_says_how_long_in_the_readers_language(server: InProcess) -> None:
    with server.client(headers={"Accept-Language": "nb", "X-Forwarded-For": "198.51.100.10"},
                       follow_redirects=False) as client:
        for n in range(5):
            assert _password(client, demo.PEOPLE[0][0], f"wrong {n}").status_code == 401
        locked = _password(client, demo.PEOPLE[0][0], demo.PASSWORD)
    assert locked.status_code == 429 and "30 sekunder" in locked.text
