"""The reminder SMS some days before an appointment (000: three days), sent once, never at night.

A reminder is queued in the outbox in the same transaction that stamps ``reminder_at`` on the
appointment with a conditional UPDATE, so however many nodes run this loop, and however often
they restart, each appointment gets one reminder. Only ``booked`` appointments are reminded:
a cancelled one never is, and a moved one is reminded of its new time (moving clears the stamp).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from visitt.messaging import outbox
from visitt.store.db import Database
from visitt.errors import describe
from visitt.web.i18n import translations
from visitt.store.models import Appointment, AppointmentState, Participant, utcnow
from visitt.settings import Settings

log = logging.getLogger("visitt.reminders")


def in_quiet_hours(local: dt.datetime, quiet: tuple[int, int]) -> bool:
    """``quiet`` is (from hour, to hour) in local time, e.g. (21, 8): 21:00–07:59 is quiet."""
    start, end = quiet
    if start == end:
        return False
    hour = local.hour
    return start <= hour or hour < end if start > end else start <= hour < end


def reminder_text(language: str, *, when: dt.datetime, code: str, address: str, phone: str) -> str:
    _ = translations(language).gettext
    text = _("Reminder: video consultation {date} at {time}. Use the link in the SMS you received, "
             "or go to {address} and enter the code {code}. Cannot attend? Call {phone}.") if address else _(
        "Reminder: video consultation {date} at {time}. Use the link in the SMS you received. "
        "Cannot attend? Call {phone}.")
    return text.format(date=when.strftime("%d.%m.%Y"), time=when.strftime("%H:%M"), address=address, code=code,
                       phone=phone)


def queue_due(database: Database, settings: Settings, now: dt.datetime | None = None) -> int:
    """Queue every reminder due at ``now``; returns how many were queued."""
    now = now or utcnow()
    if settings.reminder_days <= 0:
        return 0
    tz = ZoneInfo(settings.timezone)
    if in_quiet_hours(now.astimezone(tz), settings.quiet_hours):
        return 0  # the first pass after the quiet hours sends them
    lead = dt.timedelta(days=settings.reminder_days)
    queued = 0
    with database.session() as session:
        due = list(session.scalars(select(Appointment).where(
            Appointment.state == AppointmentState.booked, Appointment.reminder_at.is_(None),
            Appointment.starts_at > now, Appointment.starts_at <= now + lead,
        ).limit(200)))
        for appointment in due:
            claimed = session.execute(update(Appointment).where(
                Appointment.id == appointment.id, Appointment.reminder_at.is_(None),
                Appointment.state == AppointmentState.booked).values(reminder_at=now))
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another node took it
            if appointment.created_at > appointment.starts_at - lead:
                continue  # booked within the lead time: the invitation is the reminder (stamped all the same)
            patient = session.scalar(select(Participant).where(
                Participant.room_id == appointment.room.id, Participant.kind == "patient"))
            department = appointment.department
            body = reminder_text(appointment.language, when=appointment.starts_at.astimezone(tz),
                                 code=patient.code if patient else "", address=settings.public_url,
                                 phone=department.phone if department and department.phone else settings.clinic_phone)
            outbox.enqueue(session, recipient=appointment.patient_phone, body=body, appointment_id=appointment.id)
            queued += 1
    if queued:
        log.info("queued %d reminder(s)", queued)
    return queued


async def run(database: Database, settings: Settings, wake_sender: Callable[[], None], *,
              interval: float = 60.0) -> None:
    while True:
        try:
            if await asyncio.to_thread(queue_due, database, settings):
                wake_sender()
        except Exception as error:
            log.error("reminder pass failed (%s); trying again", describe(error))
        await asyncio.sleep(interval)
