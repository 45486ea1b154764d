"""Operators' delivery reports through the public /hooks/ endpoints of Visitt (in process): each operator's real
backend sends to a local fake of its API, the report comes back correctly or wrongly signed, and the
clinician sees the failure on the pages."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from visitt.messaging import delivery, sms
from visitt import demo
from visitt.store.db import Database
from visitt.store.models import OutboxMessage, OutboxState
from visitt.testing import InProcess

from .conftest import make_settings
from .operators import FakeOperator

TOKEN = "twilio auth token"
SID = "SM" + "0123456789abcdef" * 2
SECRET = "gateway secret"
SVEVE_TOKEN = "k7Qd0xZ3pL9wT2vB"
WARNING = "The SMS to the patient could not be delivered: {reason} — call the patient"


@pytest.fixture
def operator() -> Iterator[FakeOperator]:
    fake = FakeOperator()
    yield fake
    fake.close()


@contextlib.contextmanager
def _live(tmp_path: Path, backend: sms.Backend, **settings: object) -> Iterator[InProcess]:
    live = InProcess(make_settings(tmp_path, **settings), sms_backend=backend).start()
    try:
        yield live
    finally:
        live.stop()


def _book(server: InProcess) -> int:
    response = server.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                           json={"patient_name": "Kari Nordmann", "patient_phone": "412 34 567",
                                 "starts_at": (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).isoformat()})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _sms_row(server: InProcess, done: bool = True) -> OutboxMessage:
    """The one SMS row, once the sender has finished with it."""
    deadline = time.monotonic() + 15
    while True:
        with server.database.session() as session:
            row = session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "sms")).one()
        if not done or row.state is not OutboxState.pending or time.monotonic() > deadline:
            return row
        time.sleep(0.05)


@contextlib.contextmanager
def _clinician(server: InProcess) -> Iterator[httpx.Client]:
    with server.client(headers={"Accept-Language": "en"}) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff/login").text)
        assert csrf
        signed_in = client.post("/staff/login", data={"email": demo.PEOPLE[0][0], "password": demo.PASSWORD,
                                                      "csrf": csrf.group(1)})
        assert signed_in.status_code == 303
        yield client


def _warnings(page: str) -> list[str]:
    return [" ".join(re.sub(r"<[^>]+>", " ", match).split())
            for match in re.findall(r'<p class="alert delivery-failed"[^>]*>(.*?)</p>', page, re.S)]


# --- Twilio -----------------------------------------------------------------------------------


def _twilio_callback(server: InProcess, params: dict[str, str], token: str = TOKEN) -> httpx.Response:
    url = f"{server.url}/hooks/twilio"
    return server.post(url, data=params, headers={"X-Twilio-Signature": sms.twilio_signature(token, url, params.items())})


def test_twilio_signature_matches_twilios_own_example() -> None:
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030",
              "To": "+18005551212"}
    assert sms.twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params.items()) == \
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_twilio_reports_undelivered_and_the_clinician_sees_it(tmp_path: Path, operator: FakeOperator) -> None:
    operator.answers.append((201, {"sid": SID, "status": "queued"}))
    backend = sms.TwilioBackend("AC42", TOKEN, "+4759440000", base_url=operator.url)
    with _live(tmp_path, backend, twilio_auth_token=TOKEN) as server:
        appointment_id = _book(server)
        row = _sms_row(server)
        assert row.state is OutboxState.sent and row.provider_id == SID and row.delivery_status is None

        report = {"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": "30005", "AccountSid": "AC42",
                  "To": "+4741234567"}
        forged = _twilio_callback(server, report, token="not the token")
        assert forged.status_code == 403
        assert forged.json() == {"error": {"code": "forbidden", "message": "The signature is not valid."}}
        url = f"{server.url}/hooks/twilio"
        tampered = server.post(url, data={**report, "ErrorCode": "30003"},
                               headers={"X-Twilio-Signature": sms.twilio_signature(TOKEN, url, report.items())})
        assert tampered.status_code == 403
        assert server.post(url, data=report).status_code == 403  # unsigned
        assert _sms_row(server).delivery_status is None

        sent = _twilio_callback(server, {**report, "MessageStatus": "sent", "ErrorCode": ""})
        assert sent.status_code == 204 and _sms_row(server).delivery_status == "sent"
        assert _twilio_callback(server, report).status_code == 204
        row = _sms_row(server)
        assert row.delivery_status == "failed" and row.failure_reason == "invalid_number"
        assert row.delivery_status_at is not None and row.last_error == "Twilio 30005"
        # a report about a message Visitt never sent gets the same answer as a real one
        unknown = _twilio_callback(server, {**report, "MessageSid": "SM" + "f" * 32})
        assert unknown.status_code == 204 and unknown.content == b""

        with _clinician(server) as client:
            expected = WARNING.format(reason="the number does not exist") + " +4741234567"
            assert _warnings(client.get("/staff").text) == [expected]
            page = client.get(f"/staff/appointments/{appointment_id}").text
            assert _warnings(page) == [expected] and 'href="tel:+4741234567"' in page


def test_twilio_refusing_the_number_at_sending_is_shown_too(tmp_path: Path, operator: FakeOperator) -> None:
    operator.answers.append((400, {"code": 21614, "message": "'To' number is not a valid mobile number"}))
    backend = sms.TwilioBackend("AC42", TOKEN, "+4759440000", base_url=operator.url)
    with _live(tmp_path, backend, demo=True) as server:
        appointment_id = _book(server)
        row = _sms_row(server)
        assert row.state is OutboxState.failed and row.failure_reason == "not_mobile"
        assert server.post(f"{server.url}/hooks/twilio", data={}).status_code == 404  # no auth token: no endpoint
        with _clinician(server) as client:
            page = client.get(f"/staff/appointments/{appointment_id}").text
            assert _warnings(page) == [WARNING.format(reason="the number cannot receive SMS") + " +4741234567"]
            outbox_page = client.get("/staff/outbox").text  # demo mode: the staff outbox page
            assert "Could not be delivered: the number cannot receive SMS" in outbox_page
            assert "HTTP 400: 21614" in outbox_page  # the operator's words, under "Details for IT"
            assert "Traceback" not in outbox_page


# --- Sveve ------------------------------------------------------------------------------------


def test_sveve_delivery_reports(tmp_path: Path, operator: FakeOperator) -> None:
    operator.answers.append((200, {"response": {"msgOkCount": 1, "stdSMSCount": 1, "ids": [98765]}}))
    backend = sms.SveveBackend("sykehus", "passord", "Sykehuset", base_url=operator.url)
    with _live(tmp_path, backend, sveve_report_token=SVEVE_TOKEN) as server:
        _book(server)
        assert _sms_row(server).provider_id == "98765"
        failed = {"id": "98765", "number": "4741234567", "status": "false", "errorCode": "2",
                  "errorDesc": "Ukjent nummer"}
        wrong_token = server.get(f"{server.url}/hooks/sveve/guessed-token", params=failed)
        assert wrong_token.status_code == 403
        other_number = server.get(f"{server.url}/hooks/sveve/{SVEVE_TOKEN}", params={**failed, "number": "4799999999"})
        assert other_number.status_code == 200 and _sms_row(server).delivery_status is None
        malformed = server.get(f"{server.url}/hooks/sveve/{SVEVE_TOKEN}", params={"id": "x", "status": "maybe"})
        assert malformed.status_code == 200 and _sms_row(server).delivery_status is None

        reported = server.get(f"{server.url}/hooks/sveve/{SVEVE_TOKEN}", params=failed)
        assert reported.status_code == 200
        row = _sms_row(server)
        assert row.delivery_status == "failed" and row.failure_reason == "not_delivered"
        assert row.last_error == "Sveve: 2 Ukjent nummer"
        # a later success report for the same message does not undo the first final word
        posted = server.post(f"{server.url}/hooks/sveve/{SVEVE_TOKEN}", data={**failed, "status": "true"})
        assert posted.status_code == 200 and _sms_row(server).delivery_status == "failed"
        with _clinician(server) as client:
            assert _warnings(client.get("/staff").text) == [
                WARNING.format(reason="the operator could not deliver it") + " +4741234567"]


# --- the generic signed webhook ---------------------------------------------------------------


def _signed(server: InProcess, report: object, *, secret: str = SECRET, age: int = 0) -> httpx.Response:
    body = json.dumps(report).encode()
    timestamp = str(int(time.time()) - age)
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return server.post(f"{server.url}/hooks/webhook", content=body, headers={
        "content-type": "application/json", "x-visitt-timestamp": timestamp, "x-visitt-signature": f"sha256={mac}"})


def test_webhook_delivery_reports(tmp_path: Path, operator: FakeOperator) -> None:
    operator.answers.append((202, {"id": "gw-1"}))
    backend = sms.WebhookBackend(f"{operator.url}/sms", SECRET)
    with _live(tmp_path, backend, webhook_secret=SECRET) as server:
        _book(server)
        row = _sms_row(server)
        assert row.provider_id == "gw-1"
        report = {"id": row.id, "status": "failed", "reason": "blocked", "detail": "blocked by the handset"}

        assert _signed(server, report, secret="wrong").status_code == 403
        assert _signed(server, report, age=3600).status_code == 403  # an old report may be a replay
        invalid = _signed(server, {**report, "status": "lost", "reason": "gremlins"})
        assert invalid.status_code == 422
        assert set(invalid.json()["error"]["fields"]) == {"status", "reason"}
        assert _signed(server, ["not", "an", "object"]).status_code == 422
        assert _sms_row(server).delivery_status is None

        assert _signed(server, {"id": row.id, "status": "delivered"}).status_code == 204
        assert _signed(server, {"id": 424242, "status": "failed"}).status_code == 204  # unknown: same answer
        assert _sms_row(server).delivery_status == "delivered"
        assert _signed(server, report).status_code == 204  # too late: delivered stands
        assert _sms_row(server).failure_reason is None
        with _clinician(server) as client:
            assert _warnings(client.get("/staff").text) == []


# --- the rules, on the database ---------------------------------------------------------------


def test_reports_out_of_order_never_go_backwards(database: Database) -> None:
    with database.session() as session:
        message = OutboxMessage(recipient="+4741234567", body="", state=OutboxState.sent, provider_id="x")
        session.add(message)
        session.flush()
        assert delivery.record(session, message, "delivered")
        assert not delivery.record(session, message, "sent")  # a late "sent"
        assert not delivery.record(session, message, "failed", reason="blocked")
        assert message.delivery_status == "delivered" and message.failure_reason is None
        with pytest.raises(ValueError):
            delivery.record(session, message, "lost")
        with pytest.raises(ValueError):
            delivery.record(session, message, "failed", reason="gremlins")


def test_every_failure_code_a_backend_can_give_has_plain_words() -> None:
    codes = set(sms.TWILIO_CODES.values()) | {"configuration", "invalid_number", "rejected", "unavailable",
                                               "invalid_address", "mailbox_full", "not_delivered"}
    assert codes <= set(delivery.REASONS)
    assert all("Error" not in text and "Exception" not in text for text in delivery.REASONS.values())
