"""The durable outbox: SMS and e-mail rows in the database and the loop that sends them.

Each row is claimed with a conditional UPDATE carrying a lease, so several sender loops - on one
node or many - never hold the same message at once, and a row whose sender died is picked up
again when the lease runs out. Delivery is at-least-once only in that crash window (the message
went out but the node died before marking it sent); every other path sends exactly once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from visitt import phones
from visitt.store.db import Database
from visitt.errors import describe
from visitt.web.i18n import N_, translations
from visitt.limiter import Limiter
from visitt.store.models import OutboxMessage, OutboxState, utcnow

log = logging.getLogger("visitt.outbox")
LEASE = dt.timedelta(seconds=60)
MAX_ATTEMPTS = 8


class SendFailed(Exception):
    """The backend could not deliver; ``permanent`` failures are not retried.

    ``reason`` is the operator's own words, for IT; ``code`` is the plain reason staff are shown (one of
    :data:`visitt.messaging.delivery.REASONS`).
    """

    def __init__(self, reason: str, *, permanent: bool = False, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code or ("rejected" if permanent else "unavailable")


class Backend(Protocol):
    name: str

    async def send(self, message: OutboxMessage) -> str | None:
        """Deliver one message; return the operator's reference for it, if it gives one."""
        ...


class ConsoleBackend:
    """Development backend: the message stays in the outbox table for the staff Outbox page."""

    name = "console"

    def __init__(self, echo: bool = False) -> None:
        self.echo = echo

    async def send(self, message: OutboxMessage) -> None:
        log.info("%s %s handed to the console backend (%d characters)", message.channel, message.id,
                 len(message.body))
        if self.echo:  # demo mode only: the person at the terminal is the recipient
            print(f"\n--- SMS {message.id} ---\n{message.body}\n", flush=True)


class FileBackend:
    """Appends one JSON object per message to a file: ``{"id", "to", "body", "sent_at"}``."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, message: OutboxMessage) -> None:
        line = json.dumps({"id": message.id, "to": message.recipient, "body": message.body,
                           "sent_at": utcnow().isoformat()}, ensure_ascii=False)
        await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


class Channels:
    """Hands each message to the backend for its channel (``sms``, ``email``)."""

    name = "channels"

    def __init__(self, backends: dict[str, Backend]) -> None:
        self.backends = backends

    async def send(self, message: OutboxMessage) -> str | None:
        backend = self.backends.get(message.channel)
        if backend is None:
            raise SendFailed(f"no backend for the channel {message.channel!r}", permanent=True, code="configuration")
        return await backend.send(message)


def enqueue(session: Session, *, recipient: str, body: str, appointment_id: int | None = None,
            channel: str = "sms", limiter: Limiter | None = None, sender: int | None = None,
            room_id: int | None = None) -> OutboxMessage:
    """Queue one message for the sender loop, in the caller's unit of work.

    An SMS that staff send (``sender``: their account, an API token's owner) is counted by the
    ``limiter`` per recipient number and per sender first, and refused with
    :class:`~visitt.errors.RateLimited` over either limit - so nothing of the caller's unit of work
    is kept. Reminders (no limiter) are the system's own and are not counted. ``room_id``: the room of a message
    with no appointment (a staff meeting's invitation), for retention to find it.
    """
    if channel == "sms" and limiter is not None:
        count_sms(limiter, recipient, sender)
    message = OutboxMessage(channel=channel, recipient=recipient, body=body, appointment_id=appointment_id,
                            room_id=room_id)
    session.add(message)
    return message


def count_sms(limiter: Limiter, recipient: str, sender: int | None) -> None:
    """Count one SMS to ``recipient`` from staff member ``sender``, or raise RateLimited (counting nothing)."""
    by = str(sender)
    limiter.check("sms_number", recipient, code="too_many_sms_to_number",
                  message=N_("Too many SMS have gone to this number lately. Try again later, or call the patient."))
    limiter.check("sms_staff", by, code="too_many_sms",
                  message=N_("You have sent too many SMS lately. Try again later."))
    limiter.hit("sms_number", recipient)
    limiter.hit("sms_staff", by)


def invitation_text(language: str, *, when: dt.datetime, url: str, code: str, phone: str, help_url: str) -> str:
    """The invitation SMS: when, the link, the code, the help page (``help_url``) and whom to call."""
    _ = translations(language).gettext
    return _("Video consultation {date} at {time}. Open the link shortly before: {url} "
             "Code: {code}. How to prepare: {help} Questions or cannot attend? Call {phone}.").format(
        date=when.strftime("%d.%m.%Y"), time=when.strftime("%H:%M"), url=url, code=code, phone=phones.written(phone),
        help=help_url)


class Sender:
    """Claims due messages, sends them through ``backend`` and records the outcome."""

    def __init__(self, database: Database, backend: Backend, *, interval: float = 1.0,
                 keep_sent_bodies: bool = False) -> None:
        self.database = database
        # A sent SMS body holds the invitation link: once it is out, the database forgets it
        # (the demo keeps it for its Outbox page).
        self.keep_sent_bodies = keep_sent_bodies
        self.backend = backend
        self.interval = interval
        self.node = secrets.token_hex(8)
        self.wakeup = asyncio.Event()
        self.stopping = False

    def stop(self) -> None:
        """Finish the message being sent, hand back the others claimed with it, and end :meth:`run`."""
        self.stopping = True
        self.wakeup.set()

    def _release(self, message_ids: list[int]) -> None:
        with self.database.session() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(message_ids),
                                                        OutboxMessage.claimed_by == self.node)
                            .values(claimed_by=None, claimed_until=None))

    def _claim(self, now: dt.datetime) -> list[OutboxMessage]:
        with self.database.session() as session:
            due = list(session.scalars(
                select(OutboxMessage.id).where(
                    OutboxMessage.state == OutboxState.pending, OutboxMessage.next_attempt_at <= now,
                    or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
                ).order_by(OutboxMessage.id).limit(20)
            ))
            claimed = []
            for message_id in due:
                result = session.execute(
                    update(OutboxMessage).where(
                        OutboxMessage.id == message_id, OutboxMessage.state == OutboxState.pending,
                        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
                    ).values(claimed_by=self.node, claimed_until=now + LEASE)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(message_id)
            session.commit()
            return list(session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(claimed))))

    def _finish(self, message: OutboxMessage, error: SendFailed | None, reference: str | None = None) -> None:
        now = utcnow()
        values: dict[str, object] = {"attempts": message.attempts + 1, "claimed_by": None, "claimed_until": None}
        if error is None:
            # the operator's id for the message is how its delivery reports find this row
            values.update(state=OutboxState.sent, sent_at=now, last_error="",
                          provider_id=reference[:128] if reference else None)
            if not self.keep_sent_bodies:
                values.update(body="")
        elif error.permanent or message.attempts + 1 >= MAX_ATTEMPTS:
            values.update(state=OutboxState.failed, last_error=error.reason[:500], failure_reason=error.code)
        else:
            backoff = min(2 ** message.attempts * 5, 3600)
            values.update(last_error=error.reason[:500], next_attempt_at=now + dt.timedelta(seconds=backoff))
        with self.database.session() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id,
                                                        OutboxMessage.claimed_by == self.node).values(**values))

    async def run_once(self) -> int:
        """Send everything due now; returns how many messages were attempted."""
        messages = await asyncio.to_thread(self._claim, utcnow())
        for index, message in enumerate(messages):
            if self.stopping:  # another node (or this one, restarted) takes them at once, not after the lease
                await asyncio.to_thread(self._release, [m.id for m in messages[index:]])
                return index
            reference = None
            try:
                reference = await self.backend.send(message)
                error = None
            except SendFailed as failure:
                error = failure
            except Exception as exc:  # a backend bug must not stop the loop; retried with backoff
                log.error("%s %s: unexpected backend error: %s", message.channel, message.id, describe(exc))
                error = SendFailed(type(exc).__name__)
            await asyncio.to_thread(self._finish, message, error, reference)
        return len(messages)

    async def run(self) -> None:
        failing: str | None = None  # how the last pass failed
        while not self.stopping:
            try:
                await self.run_once()
            except Exception as error:  # its message can carry a row's values: type and place only
                described = describe(error)
                if described != failing:  # in an outage every pass fails alike: said once, and when it ends
                    log.error("outbox pass failed (%s); trying again every %g s", described, self.interval)
                failing = described
            else:
                if failing is not None:
                    log.info("outbox passes work again")
                failing = None
            try:
                await asyncio.wait_for(self.wakeup.wait(), self.interval)
            except TimeoutError:
                pass
            self.wakeup.clear()
