"""SMS operators: Twilio, Sveve (Norwegian bulk SMS) and a generic signed webhook.

Each backend sends one message and either returns the operator's reference for it or raises
:class:`~visitt.messaging.outbox.SendFailed`, marked permanent when trying again cannot help (a number the
operator rejects, wrong credentials) and temporary otherwise (timeouts, 5xx, 429), which the
outbox retries with backoff. Each failure carries a plain reason code (``visitt/messaging/delivery.py``).

The operators' delivery reports are read here too (:func:`twilio_report`, :func:`sveve_report`); the
endpoints that receive them are in ``visitt/messaging/hooks.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from visitt.store.models import OutboxMessage
from visitt.messaging.outbox import Backend, ConsoleBackend, FileBackend, SendFailed
from visitt.settings import Settings

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def _temporary_or_permanent(response: httpx.Response, reason: str, code: str | None = None) -> SendFailed:
    temporary = response.status_code >= 500 or response.status_code in (408, 409, 429)
    if code is None and response.status_code in (401, 403):
        code = "configuration"
    return SendFailed(f"HTTP {response.status_code}: {reason}"[:500], permanent=not temporary,
                      code=None if temporary else code)


# Twilio's error codes (at sending, and in delivery reports) -> plain reason codes
TWILIO_CODES = {
    20003: "configuration", 21211: "invalid_number", 21408: "configuration", 21606: "configuration",
    21610: "blocked", 21612: "rejected", 21614: "not_mobile", 30001: "unavailable", 30002: "configuration",
    30003: "unreachable", 30004: "blocked", 30005: "invalid_number", 30006: "not_mobile", 30007: "rejected",
    30008: "not_delivered", 30032: "configuration", 30034: "configuration",
}
# Twilio's MessageStatus -> delivery.STATUSES; statuses not listed (incoming messages) are ignored
TWILIO_STATUSES = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued", "sending": "queued", "sent": "sent",
    "delivered": "delivered", "read": "delivered", "undelivered": "failed", "failed": "failed", "canceled": "failed",
}


async def _post(url: str, **kwargs: Any) -> httpx.Response:
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            return await client.post(url, **kwargs)
    except httpx.HTTPError as error:  # network trouble: worth another try
        raise SendFailed(f"{type(error).__name__} talking to the SMS operator") from None


class TwilioBackend:
    """Twilio's Messages resource: ``POST /2010-04-01/Accounts/{sid}/Messages.json``."""

    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, sender: str, *,
                 base_url: str = "https://api.twilio.com", status_callback: str = "") -> None:
        if not (account_sid and auth_token and sender):
            raise ValueError("the twilio backend needs VISITT_TWILIO_ACCOUNT_SID, VISITT_TWILIO_AUTH_TOKEN and "
                             "VISITT_SMS_SENDER")
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = (account_sid, auth_token)
        self.sender = sender
        self.status_callback = status_callback  # where Twilio reports delivery: .../hooks/twilio

    async def send(self, message: OutboxMessage) -> str:
        data = {"To": message.recipient, "From": self.sender, "Body": message.body}
        if self.status_callback:
            data["StatusCallback"] = self.status_callback
        response = await _post(self.url, auth=self.auth, data=data)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code in (200, 201) and body.get("sid"):
            return str(body["sid"])
        reason = f"{body.get('code', '')} {body.get('message', 'unexpected answer')}".strip()
        code = body.get("code")
        raise _temporary_or_permanent(response, reason, TWILIO_CODES.get(code) if isinstance(code, int) else None)


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """What Twilio puts in ``X-Twilio-Signature``: base64 HMAC-SHA1, keyed with the auth token, over the
    full URL it called followed by every POST parameter's name and value, sorted by name."""
    data = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def twilio_report(params: Mapping[str, str]) -> tuple[str, str, str | None, str] | None:
    """A status callback's ``(MessageSid, status, reason code, operator's words)``; None when it is no
    delivery report of ours (an unknown status, a malformed id)."""
    sid, status = params.get("MessageSid", ""), TWILIO_STATUSES.get(params.get("MessageStatus", ""))
    if status is None or not (2 <= len(sid) <= 64 and sid.isascii() and sid.isalnum()):
        return None
    if status != "failed":
        return sid, status, None, ""
    error = params.get("ErrorCode", "")
    if not (error.isdigit() and len(error) < 9):
        return sid, status, "not_delivered", "Twilio"
    return sid, status, TWILIO_CODES.get(int(error), "not_delivered"), f"Twilio {error}"


class SveveBackend:
    """Sveve's ``/SMS/SendMessage`` (form parameters, ``f=json`` answers)."""

    name = "sveve"

    def __init__(self, user: str, password: str, sender: str, *, base_url: str = "https://sveve.no") -> None:
        if not (user and password and sender):
            raise ValueError("the sveve backend needs VISITT_SVEVE_USER, VISITT_SVEVE_PASSWORD and VISITT_SMS_SENDER")
        self.url = f"{base_url.rstrip('/')}/SMS/SendMessage"
        self.user, self.password, self.sender = user, password, sender

    async def send(self, message: OutboxMessage) -> str:
        # Sveve takes numbers without the plus: 4741234567.
        response = await _post(self.url, data={"user": self.user, "passwd": self.password, "f": "json",
                                               "to": message.recipient.lstrip("+"), "from": self.sender,
                                               "msg": message.body})
        if response.status_code != 200:
            raise _temporary_or_permanent(response, "unexpected answer")
        try:
            answer = response.json()["response"]
        except (ValueError, KeyError, TypeError):
            raise SendFailed("Sveve answered something that is not its JSON") from None
        if answer.get("fatalError"):  # wrong user or password, no SMS left on the account
            raise SendFailed(f"Sveve: {answer['fatalError']}", permanent=True, code="configuration")
        if answer.get("errors"):
            first = answer["errors"][0]
            words = str(first.get("message", "rejected"))
            raise SendFailed(f"Sveve: {words}", permanent=True,
                             code="invalid_number" if "nummer" in words.lower() else "rejected")
        if not answer.get("msgOkCount") or not answer.get("ids"):
            raise SendFailed("Sveve accepted no message")
        return str(answer["ids"][0])


def sveve_report(params: Mapping[str, str]) -> tuple[str, str, str, str | None, str] | None:
    """A Sveve delivery report's ``(id, number, status, reason code, operator's words)``; None when it is
    not one (Sveve sends replies and incoming SMS to the same callback, with ``msg`` and no ``status``).

    Sveve calls the URL set in its account with ``id``, ``number`` (without +), ``status`` (``true`` or
    ``false``), and for a failure ``errorCode`` and ``errorDesc``.
    """
    message_id, number, status = params.get("id", ""), params.get("number", ""), params.get("status", "").lower()
    if status not in ("true", "false") or not (message_id.isdigit() and len(message_id) <= 20):
        return None
    if not (number.isdigit() and len(number) <= 20):
        return None
    if status == "true":
        return message_id, number, "delivered", None, ""
    words = f"{params.get('errorCode', '')} {params.get('errorDesc', '')}".strip()[:200]
    return message_id, number, "failed", "not_delivered", f"Sveve: {words}" if words else "Sveve"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 over ``<timestamp>.<body>`` (what the receiver recomputes)."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookBackend:
    """POSTs ``{"id", "to", "body"}`` as JSON to the hospital's own gateway, signed with a shared secret.

    Headers: ``X-Visitt-Timestamp`` (Unix seconds) and ``X-Visitt-Signature`` (:func:`signature`).
    A 2xx answer is success; its JSON ``id``, if any, is kept as the reference.
    """

    name = "webhook"

    def __init__(self, url: str, secret: str) -> None:
        if not url.startswith(("http://", "https://")) or not secret:
            raise ValueError("the webhook backend needs webhook:<http(s) URL> and VISITT_WEBHOOK_SECRET")
        self.url, self.secret = url, secret

    async def send(self, message: OutboxMessage) -> str:
        body = json.dumps({"id": message.id, "to": message.recipient, "body": message.body},
                          ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        response = await _post(self.url, content=body, headers={
            "content-type": "application/json", "x-visitt-timestamp": timestamp,
            "x-visitt-signature": signature(self.secret, timestamp, body)})
        if 200 <= response.status_code < 300:
            try:
                reference = response.json().get("id")
            except (ValueError, AttributeError):
                reference = None
            return str(reference) if reference is not None else ""
        raise _temporary_or_permanent(response, response.text[:200] or "no reason given")


def backend_from_settings(settings: Settings) -> Backend:
    """The backend ``VISITT_SMS_BACKEND`` names: console, file:PATH, twilio, sveve or webhook:URL."""
    value = settings.sms_backend
    if value == "console":
        return ConsoleBackend(echo=settings.demo)
    if value.startswith("file:") and len(value) > 5:
        return FileBackend(Path(value[5:]))
    if value == "twilio":
        # Twilio reports delivery only to a callback named with each message, so it needs the public address
        callback = f"{settings.public_url}/hooks/twilio" if settings.public_url else ""
        return TwilioBackend(settings.twilio_account_sid, settings.twilio_auth_token, settings.sms_sender,
                             base_url=settings.twilio_base_url, status_callback=callback)
    if value == "sveve":
        return SveveBackend(settings.sveve_user, settings.sveve_password, settings.sms_sender,
                            base_url=settings.sveve_base_url)
    if value.startswith("webhook:"):
        return WebhookBackend(value[len("webhook:"):], settings.webhook_secret)
    raise ValueError(f"VISITT_SMS_BACKEND must be console, file:PATH, twilio, sveve or webhook:URL, not {value!r}")
