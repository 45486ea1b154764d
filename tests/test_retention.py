"""Retention (visitt/retention.py): VISITT_RETENTION_DAYS after a consultation its personal data is gone -
the patient's and the other participants' names, numbers and addresses, the SMS and e-mail texts, the
identity check's note, a portal visitor's name - while the appointment, the room and the audit trail stay
with pseudonymous references. Idempotent, audited, on PostgreSQL and SQLite, with the time given."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import func, select

from visitt import cli, retention
from visitt.live import identity
from visitt.store import audit
from visitt.store.models import (
    Appointment,
    Patient,
    AuditEvent,
    IdentityCheck,
    OutboxMessage,
    OutboxState,
    Participant,
    Room,
    Staff,
)
from visitt.settings import SettingsInvalid
from visitt.testing import InProcess

from .conftest import settings_from
from .eventually import eventually

NAME, PHONE, EMAIL, COMPANION = "Kari Hemmelig-Nordmann", "412 34 567", "kari.hemmelig@example.no", "Ola Følge"
NATIONAL_ID, REFERENCE = "15058545640", "DIPS-4711"  # a valid fødselsnummer, nobody's; the hospital's own id


def _book(server: InProcess, starts_at: dt.datetime) -> int:
    booked = server.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                         json={"patient_name": NAME, "patient_phone": PHONE, "patient_email": EMAIL,
                               "national_id": NATIONAL_ID, "external_ref": REFERENCE,
                               "starts_at": starts_at.isoformat(),
                               "participants": [{"name": COMPANION, "kind": "companion", "phone": "412 34 568"}]})
    assert booked.status_code == 201, booked.text
    return int(booked.json()["id"])


def _personal(server: InProcess, appointment_id: int) -> list[str]:
    """Every personal value still stored for the appointment."""
    with server.database.session() as session:
        appointment = session.get(Appointment, appointment_id)
        assert appointment is not None
        values = [appointment.patient_name, appointment.patient_phone, appointment.patient_email,
                  appointment.external_ref]
        for participant in session.scalars(select(Participant).where(Participant.room_id == appointment.room.id)):
            values += [participant.display_name, participant.phone]
        for message in session.scalars(select(OutboxMessage).where(OutboxMessage.appointment_id == appointment_id)):
            values += [message.recipient, message.body, message.last_error]
        values += [check.note for check in session.scalars(
            select(IdentityCheck).where(IdentityCheck.room_id == appointment.room.id))]
        return [value for value in values if value]


def _patient_record(server: InProcess) -> list[str | None]:
    """The patient's own record (``patients.py``), which both bookings share: one patient, one number."""
    with server.database.session() as session:
        patient = session.scalars(select(Patient)).one()
        return [value for value in (patient.name, patient.phone, patient.national_id) if value]


@pytest.mark.in_process
def test_personal_data_goes_after_the_retention_time(pg_server: InProcess) -> None:
    server = pg_server
    starts = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(second=0, microsecond=0)
    old, recent = _book(server, starts), _book(server, starts + dt.timedelta(days=2))

    def all_sent() -> bool:
        with server.database.session() as session:
            return not session.scalar(select(func.count(OutboxMessage.id))
                                      .where(OutboxMessage.state == OutboxState.pending))
    eventually(all_sent, "the SMS and the e-mails sent", timeout=20)
    mails = sorted((server.settings.data_dir / "mail").glob("*.eml"))
    assert len(mails) == 2
    with server.database.session() as session:
        appointment = session.get(Appointment, old)
        clinician = session.scalar(select(Staff).where(Staff.id == appointment.clinician_id)) if appointment else None
        assert appointment is not None and clinician is not None
        patient = appointment.room.participants[0]
        identity.record_check(session, appointment.room.id, patient.public_id, "other", "kjent fra før, Kari H.",
                              staff_id=clinician.id)
        visit = Room(public_id=secrets.token_urlsafe(12), host_id=clinician.id)  # a portal visit, never ended
        session.add(Participant(public_id=secrets.token_urlsafe(9), room=visit, kind="patient", code="",
                                token_hash=secrets.token_hex(32), phone="", display_name="Per Portal"))
        session.flush()
        visit_id = visit.id
    assert NAME in _personal(server, old) and "kjent fra før, Kari H." in _personal(server, old)
    with server.database.session() as session:
        audited = session.scalar(select(func.count(AuditEvent.id)))

    days = server.settings.retention_days
    assert days == 90  # the default
    after = starts + dt.timedelta(minutes=30, days=days)
    assert retention.run_once(server.database, server.settings, now=after - dt.timedelta(minutes=1)) == 1  # the visit
    assert retention.run_once(server.database, server.settings, now=after) == 1
    assert _personal(server, old) == []
    assert NAME in _personal(server, recent) and EMAIL in _personal(server, recent)  # two days younger: kept
    assert NATIONAL_ID in _patient_record(server)  # the patient's record goes with their last consultation
    with server.database.session() as session:
        assert session.scalar(select(Participant.display_name).where(Participant.room_id == visit_id)) == ""
        appointment = session.get(Appointment, old)
        assert appointment is not None and appointment.starts_at == starts  # the appointment itself stays
        rows = audit.events(session, action="retention")
        assert [(row.actor, row.subject) for row in rows] == [("system", ""), ("system", f"appointment:{old}")]
        assert session.scalar(select(func.count(AuditEvent.id))) == audited + 2  # nothing else changed there
    assert sorted((server.settings.data_dir / "mail").glob("*.eml")) == [mails[1]]  # the old one's file is gone

    assert retention.run_once(server.database, server.settings, now=after + dt.timedelta(days=1)) == 0  # done once
    assert retention.run_once(server.database, server.settings, now=after + dt.timedelta(days=3)) == 1  # the recent
    assert _personal(server, recent) == []
    assert _patient_record(server) == []


@pytest.mark.in_process
def test_the_command_runs_a_pass(server: InProcess, capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["retention", "run", "--data-dir", str(server.settings.data_dir)])
    assert "personal data removed from 0 consultation(s) older than 90 days" in capsys.readouterr().out


def test_the_retention_time_is_at_least_a_day(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsInvalid):
        settings_from(monkeypatch, VISITT_RETENTION_DAYS="0")
