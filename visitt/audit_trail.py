"""The audit trail in the admin console: search it by person, appointment, action and time, a page at a
time, or export it as CSV. Looking is itself audited (``audit_viewed``, ``audit_exported``), with the
filters used.

An admin sees every event; a department admin the events about their departments: done by or to an
account they administer, about one of their departments, in a room of their departments' appointments,
or about an API token of one of their accounts.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, String, cast, literal, or_, select, true
from sqlalchemy.orm import Session

from visitt import access
from visitt.ids import parse_id
from visitt.errors import ValidationFailed
from visitt.store import audit
from visitt.store.db import Database, run_later
from visitt.store.models import ApiToken, Appointment, AuditEvent, Department, Role, Room, Staff
from visitt.web.i18n import N_

PER_PAGE = 50
BATCH = 500  # rows read at once for an export
COLUMNS = ("id", "at", "actor", "action", "room_id", "subject", "detail")


@dataclass(frozen=True)
class AuditQuery:
    """What to look for; every filter given must match. ``until`` is exclusive."""

    person: int | None = None  # a staff account: events done by it or to it
    appointment: int | None = None
    action: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


class AuditEventPublic(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    action: str
    room_id: int | None
    subject: str
    detail: dict[str, object]


class AuditPage(BaseModel):
    events: list[AuditEventPublic]
    page: int
    more: bool  # whether a next page exists


def public(event: AuditEvent) -> AuditEventPublic:
    return AuditEventPublic(id=event.id, at=event.at, actor=event.actor, action=event.action, room_id=event.room_id,
                            subject=event.subject, detail=event.detail)


def parse(session: Session, actor: Staff, tz: ZoneInfo, *, person: str = "", appointment: str = "",
          action: str = "", since: str = "", until: str = "") -> AuditQuery:
    """The filters as typed into the console or the API: ``person`` an e-mail address or a staff id,
    ``since``/``until`` dates (``2026-12-01``, a whole day in the clinic's time zone) or ISO times."""
    errors: dict[str, str] = {}
    person_id = None
    if person.strip():
        value = person.strip().lower()
        number = parse_id(value)
        staff = session.get(Staff, number) if number is not None else \
            session.scalar(select(Staff).where(Staff.email == value))
        if staff is None or not access.may_administer(actor, staff) and staff.id != actor.id:
            errors["person"] = N_("No staff account you administer has that e-mail address.")
        else:
            person_id = staff.id
    appointment_id = None
    if appointment.strip():
        appointment_id = parse_id(appointment.strip())
        if appointment_id is None:
            errors["appointment"] = N_("Enter the appointment's number.")
    if action.strip() and action.strip() not in audit.ACTIONS:
        errors["action"] = N_("Choose an action from the list.")
    start, end = _moment(since, tz, False, errors, "since"), _moment(until, tz, True, errors, "until")
    if start and end and end <= start:
        errors["until"] = N_("The end must be after the start.")
    if errors:
        raise ValidationFailed(N_("The audit trail could not be searched."), fields=errors)
    return AuditQuery(person_id, appointment_id, action.strip() or None, start, end)


def _moment(value: str, tz: ZoneInfo, end: bool, errors: dict[str, str], field: str) -> dt.datetime | None:
    if not value.strip():
        return None
    try:
        if len(value.strip()) == 10:  # a date: from its start, or up to its end
            day = dt.date.fromisoformat(value.strip()) + dt.timedelta(days=1 if end else 0)
            return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.timezone.utc)
        moment = dt.datetime.fromisoformat(value.strip())
        return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(dt.timezone.utc)
    except (ValueError, OverflowError):
        errors[field] = N_("Enter a date, for example 2026-12-01.")
        return None


def _staff_label(ids: ColumnElement[bool]) -> Select[str]:
    return select(literal("staff:", String) + cast(Staff.id, String)).where(ids)


def scope(actor: Staff) -> ColumnElement[bool]:
    """The events ``actor`` may see, as a filter on :class:`AuditEvent`."""
    access.require_admin(actor)
    if actor.role is Role.admin:
        return true()
    mine = access.department_ids(actor)
    accounts = access.administered_staff(actor)
    rooms = select(Room.id).join(Appointment, Room.appointment_id == Appointment.id) \
        .where(Appointment.department_id.in_(mine))
    portal_rooms = select(Room.id).join(Staff, Room.host_id == Staff.id) \
        .where(Room.appointment_id.is_(None), Staff.department_id.in_(mine))
    tokens = select(literal("api_token:", String) + cast(ApiToken.id, String)).join(ApiToken.staff).where(accounts)
    departments = select(literal("department:", String) + cast(Department.id, String)).where(Department.id.in_(mine))
    return or_(AuditEvent.actor.in_(_staff_label(accounts)), AuditEvent.subject.in_(_staff_label(accounts)),
               AuditEvent.room_id.in_(rooms), AuditEvent.room_id.in_(portal_rooms),
               AuditEvent.subject.in_(tokens), AuditEvent.subject.in_(departments))


def _where(actor: Staff, query: AuditQuery) -> list[ColumnElement[bool]]:
    conditions = [scope(actor)]
    if query.person is not None:
        label = f"staff:{query.person}"
        conditions.append(or_(AuditEvent.actor == label, AuditEvent.subject == label))
    if query.appointment is not None:
        room = select(Room.id).where(Room.appointment_id == query.appointment)
        conditions.append(or_(AuditEvent.subject == f"appointment:{query.appointment}", AuditEvent.room_id.in_(room)))
    if query.action is not None:
        conditions.append(AuditEvent.action == query.action)
    if query.since is not None:
        conditions.append(AuditEvent.at >= query.since)
    if query.until is not None:
        conditions.append(AuditEvent.at < query.until)
    return conditions


def _filters(query: AuditQuery) -> dict[str, object]:
    return {key: value.isoformat() if isinstance(value, dt.datetime) else value
            for key, value in asdict(query).items() if value is not None}


def search(session: Session, actor: Staff, query: AuditQuery, page: int = 1) -> AuditPage:
    """One page of matching events, newest first; the look is recorded."""
    run_later(session)  # events recorded in this unit of work are in the trail too
    page = max(1, min(page, 100_000))
    rows = list(session.scalars(select(AuditEvent).where(*_where(actor, query)).order_by(AuditEvent.id.desc())
                                .offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1)))
    audit.record(session, f"staff:{actor.id}", "audit_viewed", page=page, filters=_filters(query))
    return AuditPage(events=[public(event) for event in rows[:PER_PAGE]], page=page, more=len(rows) > PER_PAGE)


def _cell(value: object) -> str:
    """One CSV cell; text a spreadsheet would run as a formula starts with an apostrophe."""
    text = "" if value is None else json.dumps(value, ensure_ascii=False) if isinstance(value, dict) \
        else value.isoformat() if isinstance(value, dt.datetime) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export(database: Database, actor_id: int, query: AuditQuery) -> Iterator[str]:
    """Every matching event as CSV lines, newest first, read a batch at a time in units of work of their
    own (the response streams after the request's own has ended). Record the export before streaming."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    yield out.getvalue()
    before: int | None = None
    while True:
        with database.session() as session:
            actor = session.get(Staff, actor_id)
            if actor is None or not access.administers(actor):
                return
            statement = select(AuditEvent).where(*_where(actor, query))
            if before is not None:
                statement = statement.where(AuditEvent.id < before)
            rows = list(session.scalars(statement.order_by(AuditEvent.id.desc()).limit(BATCH)))
            out.seek(0)
            out.truncate()
            for event in rows:
                writer.writerow([_cell(getattr(event, column)) for column in COLUMNS])
        if not rows:
            return
        yield out.getvalue()
        before = rows[-1].id


def record_export(session: Session, actor: Staff, query: AuditQuery) -> None:
    access.require_admin(actor)
    audit.record(session, f"staff:{actor.id}", "audit_exported", filters=_filters(query))
