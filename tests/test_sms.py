"""Each SMS operator backend against a small local HTTP server speaking that operator's API."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from visitt.messaging import outbox, sms
from visitt.store.db import Database
from visitt.store.models import OutboxMessage, OutboxState, utcnow

from .conftest import make_settings
from .operators import FakeOperator


@pytest.fixture
def operator() -> Iterator[FakeOperator]:
    fake = FakeOperator()
    yield fake
    fake.close()


def _message(recipient: str = "+4741234567", body: str = "Videokonsultasjon 01.12.2026 kl. 09:30") -> OutboxMessage:
    return OutboxMessage(id=7, recipient=recipient, body=body)


def _send(backend: outbox.Backend) -> str:
    return asyncio.run(backend.send(_message()))  # type: ignore[arg-type]


# --- Twilio -----------------------------------------------------------------------------------


def test_twilio_success(operator: FakeOperator) -> None:
    operator.answers.append((201, {"sid": "SM0123", "status": "queued"}))
    backend = sms.TwilioBackend("AC42", "token", "+4759440000", base_url=operator.url)
    assert _send(backend) == "SM0123"
    (request,) = operator.requests
    assert request["path"] == "/2010-04-01/Accounts/AC42/Messages.json"
    assert request["form"] == {"To": "+4741234567", "From": "+4759440000",
                               "Body": "Videokonsultasjon 01.12.2026 kl. 09:30"}
    expected = "Basic " + base64.b64encode(b"AC42:token").decode()
    assert request["headers"]["authorization"] == expected  # type: ignore[index]


def test_twilio_server_error_is_temporary_and_bad_number_permanent(operator: FakeOperator) -> None:
    backend = sms.TwilioBackend("AC42", "token", "+4759440000", base_url=operator.url)
    operator.answers.append((503, {"code": 20503, "message": "Service unavailable"}))
    with pytest.raises(outbox.SendFailed) as temporary:
        _send(backend)
    assert not temporary.value.permanent and "503" in temporary.value.reason
    operator.answers.append((400, {"code": 21211, "message": "The 'To' number is not a valid phone number."}))
    with pytest.raises(outbox.SendFailed) as permanent:
        _send(backend)
    assert permanent.value.permanent and "21211" in permanent.value.reason
    assert permanent.value.code == "invalid_number"
    operator.answers.append((429, {"code": 20429, "message": "Too Many Requests"}))
    with pytest.raises(outbox.SendFailed) as throttled:
        _send(backend)
    assert not throttled.value.permanent


# --- Sveve ------------------------------------------------------------------------------------


def test_sveve_success(operator: FakeOperator) -> None:
    operator.answers.append((200, {"response": {"msgOkCount": 1, "stdSMSCount": 1, "ids": [98765]}}))
    backend = sms.SveveBackend("sykehus", "passord", "Sykehuset", base_url=operator.url)
    assert _send(backend) == "98765"
    (request,) = operator.requests
    assert request["path"] == "/SMS/SendMessage"
    assert request["form"] == {"user": "sykehus", "passwd": "passord", "f": "json", "to": "4741234567",
                               "from": "Sykehuset", "msg": "Videokonsultasjon 01.12.2026 kl. 09:30"}


def test_sveve_failures(operator: FakeOperator) -> None:
    backend = sms.SveveBackend("sykehus", "passord", "Sykehuset", base_url=operator.url)
    operator.answers.append((502, {}))
    with pytest.raises(outbox.SendFailed) as temporary:
        _send(backend)
    assert not temporary.value.permanent
    operator.answers.append((200, {"response": {"fatalError": "Feil brukernavn/passord"}}))
    with pytest.raises(outbox.SendFailed) as credentials:
        _send(backend)
    assert credentials.value.permanent and "Feil brukernavn/passord" in credentials.value.reason
    assert credentials.value.code == "configuration"
    operator.answers.append((200, {"response": {"msgOkCount": 0, "stdSMSCount": 0, "ids": [],
                                                "errors": [{"number": "4741234567",
                                                            "message": "Ugyldig telefonnummer"}]}}))
    with pytest.raises(outbox.SendFailed) as number:
        _send(backend)
    assert number.value.permanent and "Ugyldig telefonnummer" in number.value.reason
    assert number.value.code == "invalid_number"


# --- signed webhook ---------------------------------------------------------------------------


def test_webhook_is_signed_and_classifies_failures(operator: FakeOperator) -> None:
    backend = sms.WebhookBackend(f"{operator.url}/sms", "gateway secret")
    operator.answers.append((202, {"id": "gw-1"}))
    assert _send(backend) == "gw-1"
    request = operator.requests[0]
    headers = request["headers"]
    assert isinstance(headers, dict)
    timestamp = headers["x-visitt-timestamp"]
    raw = request["raw"]
    assert isinstance(raw, bytes)
    expected = hmac.new(b"gateway secret", timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    assert headers["x-visitt-signature"] == f"sha256={expected}"
    assert json.loads(raw) == {"id": 7, "to": "+4741234567", "body": "Videokonsultasjon 01.12.2026 kl. 09:30"}
    operator.answers.append((500, {}))
    with pytest.raises(outbox.SendFailed) as temporary:
        _send(backend)
    assert not temporary.value.permanent
    operator.answers.append((422, {"error": "no such number"}))
    with pytest.raises(outbox.SendFailed) as permanent:
        _send(backend)
    assert permanent.value.permanent


def test_unreachable_operator_is_temporary() -> None:
    backend = sms.WebhookBackend("http://127.0.0.1:9/sms", "secret")  # the discard port: nothing listens
    with pytest.raises(outbox.SendFailed) as failure:
        _send(backend)
    assert not failure.value.permanent


# --- through the outbox -----------------------------------------------------------------------


def test_outbox_retries_a_5xx_then_records_success(database: Database, operator: FakeOperator) -> None:
    with database.session() as session:
        outbox.enqueue(session, recipient="+4741234567", body="hei")
    sender = outbox.Sender(database, sms.TwilioBackend("AC42", "token", "+4759440000", base_url=operator.url))
    operator.answers.append((500, {"code": 20500, "message": "Internal Server Error"}))
    asyncio.run(sender.run_once())
    with database.session() as session:
        message = session.scalars(select(OutboxMessage)).one()
        assert message.state is OutboxState.pending and message.attempts == 1
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
    operator.answers.append((201, {"sid": "SM1"}))
    asyncio.run(sender.run_once())
    with database.session() as session:
        message = session.scalars(select(OutboxMessage)).one()
        assert message.state is OutboxState.sent and message.attempts == 2
        assert message.provider_id == "SM1"  # how Twilio's delivery reports find the row
    assert len(operator.requests) == 2


def test_twilio_is_told_where_to_report_delivery(operator: FakeOperator, tmp_path: Path) -> None:
    backend = sms.backend_from_settings(make_settings(
        tmp_path, sms_backend="twilio", twilio_account_sid="AC42", twilio_auth_token="t",
        twilio_base_url=operator.url, public_url="https://video.sykehuset.example"))
    operator.answers.append((201, {"sid": "SM2"}))
    assert _send(backend) == "SM2"
    assert operator.requests[0]["form"]["StatusCallback"] == "https://video.sykehuset.example/hooks/twilio"  # type: ignore[index]


def test_delivery_reports_are_read() -> None:
    assert sms.twilio_report({"MessageSid": "SM1", "MessageStatus": "delivered"}) == ("SM1", "delivered", None, "")
    assert sms.twilio_report({"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}) == \
        ("SM1", "failed", "unreachable", "Twilio 30003")
    assert sms.twilio_report({"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "39999"}) == \
        ("SM1", "failed", "not_delivered", "Twilio 39999")
    assert sms.twilio_report({"MessageSid": "SM1", "MessageStatus": "received"}) is None  # an incoming SMS
    assert sms.twilio_report({"MessageSid": "../etc", "MessageStatus": "sent"}) is None
    assert sms.sveve_report({"id": "5", "number": "4741234567", "status": "true"}) == \
        ("5", "4741234567", "delivered", None, "")
    assert sms.sveve_report({"id": "5", "number": "4741234567", "msg": "Takk!"}) is None  # a reply, not a report


def test_backend_from_settings(tmp_path: Path) -> None:
    def backend(value: str, **extra: object) -> outbox.Backend:
        return sms.backend_from_settings(make_settings(tmp_path, sms_backend=value, **extra))

    assert isinstance(backend("console"), outbox.ConsoleBackend)
    assert isinstance(backend("file:/tmp/sms.jsonl"), outbox.FileBackend)
    assert isinstance(backend("twilio", twilio_account_sid="AC", twilio_auth_token="t"), sms.TwilioBackend)
    assert isinstance(backend("sveve", sveve_user="u", sveve_password="p"), sms.SveveBackend)
    assert isinstance(backend("webhook:https://gw.example/sms", webhook_secret="s"), sms.WebhookBackend)
    for bad, message in (("twilio", "VISITT_TWILIO_ACCOUNT_SID"), ("webhook:https://x", "VISITT_WEBHOOK_SECRET"),
                         ("file:", "VISITT_SMS_BACKEND"), ("carrier-pigeon", "VISITT_SMS_BACKEND")):
        with pytest.raises(ValueError, match=message):
            backend(bad)
