"""Delivery: what became of a message after it left the outbox, and what staff are told when it failed.

An operator reports each message's status to a callback under ``/hooks/`` (``visitt/messaging/hooks.py``); the
report is matched to its outbox row by the operator's own id for the message (``provider_id``) and
recorded here. A message has failed for good when the outbox gave up on it (state ``failed``) or the
operator reported it undelivered (delivery status ``failed``); either way it carries a reason code from
:data:`REASONS`, which the dashboard and the appointment page show in plain words with the patient's
number, so the clinician can call instead.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from visitt.web.i18n import N_
from visitt.store.models import OutboxMessage, OutboxState, utcnow

log = logging.getLogger("visitt.delivery")

# reason code -> the plain words staff see (translated where shown), completing "could not be delivered: ..."
REASONS: dict[str, str] = {
    "invalid_number": N_("the number does not exist"),
    "not_mobile": N_("the number cannot receive SMS"),
    "unreachable": N_("the phone was switched off or out of coverage for too long"),
    "blocked": N_("the patient's phone or operator blocked the message"),
    "rejected": N_("the operator rejected the message"),
    "expired": N_("the message expired before it reached the phone"),
    "not_delivered": N_("the operator could not deliver it"),
    "invalid_address": N_("the e-mail address does not exist"),
    "mailbox_full": N_("the patient's mailbox is full"),
    "configuration": N_("the message service is not set up correctly (tell IT)"),
    "record_rejected": N_("the patient record system refused it (tell IT)"),
    "unavailable": N_("the message service could not be reached"),
}
# the statuses an operator can report, in the order they happen: a late "sent" never overwrites "delivered"
STATUSES = ("queued", "sent", "delivered", "failed")
_RANK = {"queued": 0, "sent": 1, "delivered": 2, "failed": 2}


def reason_text(code: str | None) -> str:
    """The untranslated plain words for a reason code (unknown codes read as "could not deliver it")."""
    return REASONS.get(code or "", REASONS["not_delivered"])


def record(session: Session, message: OutboxMessage, status: str, *, reason: str | None = None, detail: str = "",
           at: dt.datetime | None = None) -> bool:
    """Record the operator's report on ``message``; returns False when it was older news and ignored.

    ``reason`` (a :data:`REASONS` code) and ``detail`` (the operator's own words) matter only for
    ``failed``. Reports can arrive out of order, so a final status is never replaced by an earlier one.
    """
    if status not in STATUSES:
        raise ValueError(f"unknown delivery status {status!r}")
    if reason is not None and reason not in REASONS:
        raise ValueError(f"unknown failure reason {reason!r}")
    current = message.delivery_status
    if current is not None and _RANK[status] < _RANK[current]:
        return False
    if current in ("delivered", "failed") and status != current:
        return False  # the first final word stands
    message.delivery_status = status
    message.delivery_status_at = at or utcnow()
    if status == "failed":
        message.failure_reason = reason or "not_delivered"
        if detail:
            message.last_error = detail[:500]
    log.info("%s %s: operator reports %s", message.channel, message.id, status)
    return True


@dataclass(frozen=True)
class Failure:
    """A message to the patient that will not arrive: which channel, why (a reason code), and when it was known."""

    channel: str
    reason: str
    at: dt.datetime | None

    @property
    def reason_text(self) -> str:
        return reason_text(self.reason)


def is_failed(message: OutboxMessage) -> bool:
    return message.state is OutboxState.failed or message.delivery_status == "failed"


def failures(session: Session, appointment_ids: list[int]) -> dict[int, list[Failure]]:
    """For each appointment, its messages that failed for good: the newest per channel."""
    if not appointment_ids:
        return {}
    rows = session.scalars(select(OutboxMessage).where(
        OutboxMessage.appointment_id.in_(appointment_ids),
        or_(OutboxMessage.state == OutboxState.failed, OutboxMessage.delivery_status == "failed"),
    ).order_by(OutboxMessage.id.desc()))
    found: dict[int, dict[str, Failure]] = {}
    for row in rows:
        assert row.appointment_id is not None
        per_channel = found.setdefault(row.appointment_id, {})
        if row.channel not in per_channel:
            per_channel[row.channel] = Failure(row.channel, row.failure_reason or "not_delivered",
                                               row.delivery_status_at or row.created_at)
    return {appointment_id: list(channels.values()) for appointment_id, channels in found.items()}
