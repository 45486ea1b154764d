"""Public callbacks under ``/hooks/`` where SMS operators report what became of each message.

Each endpoint is open only while its operator's secret is configured (404 otherwise), and believes a
report only when it proves it knows that secret: Twilio's ``X-Twilio-Signature``, the token in the
Sveve callback's path, the generic webhook's own HMAC signature. A wrong proof gets 403 and nothing
else. A proven report about a message Visitt does not know gets the same answer as one it recorded,
so the endpoints say nothing about which messages exist. See ``docs/messaging.md``.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt.messaging import delivery, sms
from visitt.web.deps import DB
from visitt.errors import Forbidden, NotFound, ValidationFailed
from visitt.store.models import OutboxMessage
from visitt.settings import Settings

log = logging.getLogger("visitt.hooks")
router = APIRouter(prefix="/hooks", include_in_schema=False)
MAX_BODY = 16 * 1024
WEBHOOK_CLOCK_SKEW = 300  # seconds a signed webhook report stays acceptable, either way


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _called_url(request: Request, settings: Settings) -> str:
    """The URL as the operator called it. Behind a TLS proxy the request reaches Visitt as plain http on
    another host, so the public address is believed first."""
    if not settings.public_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{settings.public_url}{request.url.path}{query}"


def _sms_by_provider_id(session: Session, provider_id: str) -> OutboxMessage | None:
    return session.scalar(select(OutboxMessage).where(OutboxMessage.provider_id == provider_id,
                                                      OutboxMessage.channel == "sms"))


async def _small_body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ValidationFailed("The delivery report is too large.")
    return body


@router.post("/twilio")
async def twilio(request: Request, session: DB) -> Response:
    """Twilio's status callback: a form with ``MessageSid``, ``MessageStatus`` and, on failure, ``ErrorCode``."""
    settings: Settings = request.app.state.settings
    if not settings.twilio_auth_token:
        raise NotFound("Not Found")
    await _small_body(request)
    params = [(name, value) for name, value in (await request.form()).multi_items() if isinstance(value, str)]
    expected = sms.twilio_signature(settings.twilio_auth_token, _called_url(request, settings), params)
    if not _same(request.headers.get("x-twilio-signature", ""), expected):
        raise Forbidden("The signature is not valid.")
    report = sms.twilio_report(dict(params))
    if report is not None:
        sid, status, reason, detail = report
        message = _sms_by_provider_id(session, sid)
        if message is not None:
            delivery.record(session, message, status, reason=reason, detail=detail)
            session.commit()
    return Response(status_code=204)


@router.api_route("/sveve/{token}", methods=["GET", "POST"])
async def sveve(token: str, request: Request, session: DB) -> Response:
    """Sveve's delivery report, to the URL set in the Sveve account: query (or form) parameters ``id``,
    ``number``, ``status`` and, on failure, ``errorCode`` and ``errorDesc``."""
    settings: Settings = request.app.state.settings
    if not settings.sveve_report_token:
        raise NotFound("Not Found")
    if not _same(token, settings.sveve_report_token):
        raise Forbidden("The token is not valid.")
    await _small_body(request)
    params = {name: value for name, value in request.query_params.items()}
    if request.method == "POST":
        params.update((name, value) for name, value in (await request.form()).items() if isinstance(value, str))
    report = sms.sveve_report(params)
    if report is not None:
        message_id, number, status, reason, detail = report
        message = _sms_by_provider_id(session, message_id)
        # the number must match too: a guessed id alone changes nothing
        if message is not None and message.recipient.lstrip("+") == number:
            delivery.record(session, message, status, reason=reason, detail=detail)
            session.commit()
    return PlainTextResponse("OK")


class WebhookReport(BaseModel):
    """The generic gateway's delivery report (``docs/messaging.md``)."""

    model_config = ConfigDict(extra="ignore")

    id: int = Field(description="Visitt's id for the message: the id it was sent with.")
    status: Literal["queued", "sent", "delivered", "failed"]
    reason: str | None = Field(None, description="For failed: one of the reason codes in visitt/messaging/delivery.py.")
    detail: str = Field("", max_length=500, description="The gateway's own words, for IT.")

    @field_validator("reason")
    @classmethod
    def _known_reason(cls, value: str | None) -> str | None:
        if value is not None and value not in delivery.REASONS:
            raise ValueError(f"must be one of {', '.join(delivery.REASONS)}")
        return value


@router.post("/webhook")
async def webhook(request: Request, session: DB) -> Response:
    """The generic gateway's report: JSON, signed like the messages Visitt sends it."""
    settings: Settings = request.app.state.settings
    if not settings.webhook_secret:
        raise NotFound("Not Found")
    body = await _small_body(request)
    timestamp = request.headers.get("x-visitt-timestamp", "")
    if not (timestamp.isdigit() and abs(time.time() - int(timestamp)) <= WEBHOOK_CLOCK_SKEW):
        raise Forbidden("The signature is not valid.")  # an old report may be a replay
    expected = sms.signature(settings.webhook_secret, timestamp, body)
    if not _same(request.headers.get("x-visitt-signature", ""), expected):
        raise Forbidden("The signature is not valid.")
    try:
        report = WebhookReport.model_validate(json.loads(body))
    except (ValueError, ValidationError) as error:
        fields = {".".join(str(part) for part in problem["loc"]) or "body": problem["msg"]
                  for problem in error.errors()} if isinstance(error, ValidationError) else {"body": "not JSON"}
        raise ValidationFailed("The delivery report is not valid.", fields=fields) from None
    message = session.get(OutboxMessage, report.id)
    if message is not None and message.channel == "sms":
        delivery.record(session, message, report.status, reason=report.reason if report.status == "failed" else None,
                        detail=report.detail)
        session.commit()
    return Response(status_code=204)
