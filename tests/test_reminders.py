"""Reminder SMS three days before, with an injected clock: once, never for a cancelled appointment,
never at night, and not for appointments booked so late that the invitation is reminder enough."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from visitt import accounts, booking
from visitt.messaging import reminders
from visitt.store.db import Database
from visitt.store.models import (
    Appointment,
    AppointmentState,
    Department,
    OutboxMessage,
    Participant,
    Role,
    Staff,
)

from .conftest import make_settings

OSLO = ZoneInfo("Europe/Oslo")
BOOKED_AT = dt.datetime(2026, 11, 2, 10, 0, tzinfo=OSLO)
STARTS = dt.datetime(2026, 11, 20, 9, 30, tzinfo=OSLO)


def _book(database: Database, starts: dt.datetime = STARTS, booked_at: dt.datetime = BOOKED_AT) -> int:
    with database.session() as session:
        clinician = session.scalar(select(Staff))
        if clinician is None:
            clinician = accounts.create_staff(session, email="lege@example.no", full_name="Lege",
                                              role=Role.clinician, password="a long password",
                                              department=Department(name="Poliklinikk", phone="+47 22 00 00 00"))
        request = booking.AppointmentCreate(patient_name="Kari Nordmann", patient_phone="41234567",
                                            starts_at=starts.isoformat(), language="en")
        valid = booking.validate(session, clinician, request, tz=OSLO, region="NO", now=booked_at)
        appointment, _url, _code = booking.book(session, clinician, valid, base_url="https://video.example",
                                                clinic_phone="+47 69 00 00 00", tz=OSLO)
        appointment.created_at = booked_at
        return appointment.id


def _reminders(database: Database) -> list[str]:
    with database.session() as session:
        bodies = session.scalars(select(OutboxMessage.body).order_by(OutboxMessage.id))
        return [body for body in bodies if body.startswith("Reminder")]


def test_sent_once_three_days_before(database: Database, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, public_url="https://video.example")
    _book(database)
    too_early = STARTS - dt.timedelta(days=3, minutes=5)
    assert reminders.queue_due(database, settings, now=too_early) == 0
    due = STARTS - dt.timedelta(days=3) + dt.timedelta(minutes=1)
    assert reminders.queue_due(database, settings, now=due) == 1
    assert reminders.queue_due(database, settings, now=due + dt.timedelta(hours=1)) == 0  # once only
    other_node = Database(database.url)  # a second node, or this one after a restart
    assert reminders.queue_due(other_node, settings, now=due + dt.timedelta(hours=2)) == 0
    other_node.dispose()
    (body,) = _reminders(database)
    assert "20.11.2026 at 09:30" in body and "https://video.example" in body and "+47 22 00 00 00" in body
    with database.session() as session:
        code = session.scalars(select(Participant.code)).one()
    assert code in body


def test_not_for_a_cancelled_appointment(database: Database, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    appointment_id = _book(database)
    with database.session() as session:
        appointment = session.get(Appointment, appointment_id)
        assert appointment is not None
        appointment.state = AppointmentState.cancelled
    assert reminders.queue_due(database, settings, now=STARTS - dt.timedelta(days=2)) == 0
    assert _reminders(database) == []


def test_quiet_hours_defer_to_the_morning(database: Database, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, quiet_hours=(21, 8))
    _book(database, starts=dt.datetime(2026, 11, 20, 22, 30, tzinfo=OSLO))  # three days before is 22:30
    night = dt.datetime(2026, 11, 17, 22, 31, tzinfo=OSLO)
    assert reminders.queue_due(database, settings, now=night) == 0
    assert reminders.queue_due(database, settings, now=night + dt.timedelta(hours=8)) == 0  # 06:31: still quiet
    assert reminders.queue_due(database, settings, now=dt.datetime(2026, 11, 18, 8, 0, tzinfo=OSLO)) == 1


def test_not_when_booked_within_the_lead_time(database: Database, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    _book(database, booked_at=STARTS - dt.timedelta(days=2))
    assert reminders.queue_due(database, settings, now=STARTS - dt.timedelta(days=1)) == 0


def test_quiet_hours_arithmetic() -> None:
    at = lambda hour: dt.datetime(2026, 11, 20, hour, 0, tzinfo=OSLO)  # noqa: E731
    assert [reminders.in_quiet_hours(at(h), (21, 8)) for h in (20, 21, 23, 0, 7, 8)] == [
        False, True, True, True, True, False]
    assert [reminders.in_quiet_hours(at(h), (1, 5)) for h in (0, 1, 4, 5)] == [False, True, True, False]
    assert not reminders.in_quiet_hours(at(3), (0, 0))
