"""SMS operators: Twilio, Sveve (Norwegian bulk SMS) and a generic signed webhook.

Each backend sends one message and either returns the operator's reference for it or raises
:class:`~visitt.outbox.SendFailed`, marked permanent when trying again cannot help (a number the
operator rejects, wrong credentials) and temporary otherwise (timeouts, 5xx, 429), which the
outbox retries with backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx

from .models import OutboxMessage
from .outbox import Backend, ConsoleBackend, FileBackend, SendFailed
from .settings import Settings

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def _temporary_or_permanent(response: httpx.Response, reason: str) -> SendFailed:
    temporary = response.status_code >= 500 or response.status_code in (408, 409, 429)
    return SendFailed(f"HTTP {response.status_code}: {reason}"[:500], permanent=not temporary)


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
                 base_url: str = "https://api.twilio.com") -> None:
        if not (account_sid and auth_token and sender):
            raise ValueError("the twilio backend needs VISITT_TWILIO_ACCOUNT_SID, VISITT_TWILIO_AUTH_TOKEN and "
                             "VISITT_SMS_SENDER")
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = (account_sid, auth_token)
        self.sender = sender

    async def send(self, message: OutboxMessage) -> str:
        response = await _post(self.url, auth=self.auth,
                               data={"To": message.recipient, "From": self.sender, "Body": message.body})
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code in (200, 201) and body.get("sid"):
            return str(body["sid"])
        reason = f"{body.get('code', '')} {body.get('message', 'unexpected answer')}".strip()
        raise _temporary_or_permanent(response, reason)


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
        if answer.get("fatalError"):
            raise SendFailed(f"Sveve: {answer['fatalError']}", permanent=True)
        if answer.get("errors"):
            first = answer["errors"][0]
            raise SendFailed(f"Sveve: {first.get('message', 'rejected')}", permanent=True)
        if not answer.get("msgOkCount") or not answer.get("ids"):
            raise SendFailed("Sveve accepted no message")
        return str(answer["ids"][0])


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
        return TwilioBackend(settings.twilio_account_sid, settings.twilio_auth_token, settings.sms_sender,
                             base_url=settings.twilio_base_url)
    if value == "sveve":
        return SveveBackend(settings.sveve_user, settings.sveve_password, settings.sms_sender,
                            base_url=settings.sveve_base_url)
    if value.startswith("webhook:"):
        return WebhookBackend(value[len("webhook:"):], settings.webhook_secret)
    raise ValueError(f"VISITT_SMS_BACKEND must be console, file:PATH, twilio, sveve or webhook:URL, not {value!r}")
