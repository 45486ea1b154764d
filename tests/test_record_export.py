"""The consultation's record as FHIR R4 (visitt/record_export.py) and its delivery through the outbox's ``fhir``
channel (visitt/messaging/fhir.py) to a local FHIR server that parses every resource strictly
(tests/fhir_receiver.py): exactly once with two senders, retried after a 503, refused records shown to staff."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select, update

from visitt import demo, record_export
from visitt.messaging import delivery, fhir, outbox
from visitt.settings import Settings
from visitt.testing import InProcess
from visitt.store.db import Database
from visitt.store.models import (
    Appointment,
    ConsentEvent,
    Department,
    IdentityCheck,
    IdentityMethod,
    OutboxMessage,
    OutboxState,
    Participant,
    ParticipantState,
    Patient,
    Role,
    Room,
    RoomState,
    Staff,
    utcnow,
)

from .conftest import make_settings
from .eventually import eventually
from .fhir_receiver import CLIENT_ID, CLIENT_SECRET, FhirReceiver

# What only the database's locking decides - two senders, one row each - runs on both backends; the rest on SQLite.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
STARTS = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)
FNR = "01017012345"


def add_consultation(database: Database, *, outcome: str = "completed", failure_reason: str | None = None,
                     national_id: str | None = FNR, exemption: str | None = None, number: int = 0) -> int:
    """A finished consultation with a patient and an interpreter, an ID check and a consent; its appointment id."""
    with database.session() as session:
        department = session.scalar(select(Department)) or Department(name="Hudpoliklinikken")
        clinician = session.scalar(select(Staff)) or Staff(
            email="lege@example.no", full_name="Lege Hansen", role=Role.clinician, password_hash="x",
            department=department)
        session.add(clinician)
        session.flush()
        patient = Patient(national_id=national_id and f"{national_id[:-2]}{number:02d}", phone="+4741234567",
                          name="Kari Nordmann")
        appointment = Appointment(department=department, clinician=clinician, booked_by_id=clinician.id, starts_at=STARTS,
                                  duration_minutes=30, patient_name="Kari Nordmann", patient_phone="+4741234567",
                                  patient=patient, outcome=outcome, failure_reason=failure_reason,
                                  outcome_confirmed=True, started_at=STARTS + dt.timedelta(minutes=2),
                                  ended_at=STARTS + dt.timedelta(minutes=19), media_flowed=outcome != "technical_failure",
                                  exemption=exemption, follow_up=True)
        session.add(appointment)
        session.flush()
        room = Room(public_id=f"room{number}", appointment=appointment, host_id=clinician.id, state=RoomState.ended)
        people = [Participant(public_id=f"p{number}{kind}", room=room, kind=kind, token_hash=f"{number}{kind}",
                              code="123456", phone="+4741234567", display_name=name, state=ParticipantState.left)
                  for kind, name in (("patient", "Kari Nordmann"), ("interpreter", "Tolk Ali"))]
        session.add_all(people)
        session.flush()
        session.add(IdentityCheck(room_id=room.id, participant_id=people[0].id, method=IdentityMethod.photo_id,
                                  checked_by_id=clinician.id))
        session.add(ConsentEvent(patient_id=patient.id, appointment_id=appointment.id, kind="given", at=STARTS,
                                 text_version="2026-1", language="nb", recorded_by="patient", how="knock"))
        session.commit()
        return appointment.id


def exported(database: Database, appointment_id: int) -> dict[str, dict[str, object]]:
    """The appointment's Bundle, as JSON parsed back by the library, by resource type."""
    with database.session() as session:
        appointment = session.get(Appointment, appointment_id)
        assert appointment is not None
        text = record_export.to_json(record_export.bundle(session, appointment, public_url="https://video.example.no"))
    Bundle.model_validate_json(text)  # the library takes back what it made
    found: dict[str, dict[str, object]] = {}
    for entry in json.loads(text)["entry"]:
        found[entry["resource"]["resourceType"]] = entry["resource"]
    return found


@SQLITE_ONLY
def test_a_completed_consultation_is_an_encounter_a_consent_and_a_charge(database: Database) -> None:
    resources = exported(database, add_consultation(database))
    encounter, consent, charge = resources["Encounter"], resources["Consent"], resources["ChargeItem"]
    assert encounter["status"] == "finished"
    assert encounter["class"] == {"system": record_export.ACT_CODE, "code": "VR", "display": "virtual"}
    assert encounter["subject"]["identifier"] == {"system": record_export.FNR, "value": FNR[:-2] + "00"}
    assert encounter["period"] == {"start": "2026-12-04T09:02:00Z", "end": "2026-12-04T09:19:00Z"}
    roles = [p["type"][0]["coding"][0]["code"] for p in encounter["participant"]]  # type: ignore[index]
    assert roles == ["PPRF", "INTRP"]
    assert consent["status"] == "active" and consent["provision"]["type"] == "permit"  # type: ignore[index]
    assert charge["status"] == "billable"
    assert charge["priceOverride"] == {"value": 375.0, "currency": "NOK"}
    note = resources["DocumentReference"]["content"][0]["attachment"]  # type: ignore[index]
    assert note["contentType"] == "text/plain; charset=utf-8" and note["language"] == "nb"
    assert "Tolk Ali (tolk)" in base64.b64decode(note["data"]).decode()  # the journal note, in bokmål


@SQLITE_ONLY
def test_a_technical_failure_has_its_reason_and_costs_nothing(database: Database) -> None:
    resources = exported(database, add_consultation(database, outcome="technical_failure", failure_reason="dropped",
                                                    national_id="41017012345"))
    encounter, charge = resources["Encounter"], resources["ChargeItem"]
    assert encounter["status"] == "cancelled"
    assert encounter["reasonCode"][0]["coding"][0]["code"] == "dropped"  # type: ignore[index]
    assert encounter["subject"]["identifier"]["system"] == record_export.DNR  # type: ignore[index]
    assert charge["status"] == "not-billable" and charge["priceOverride"]["value"] == 0  # type: ignore[index]


@pytest.fixture
def receiver() -> Iterator[FhirReceiver]:
    server = FhirReceiver()
    yield server
    server.close()


def fhir_settings(receiver: FhirReceiver, database: Database) -> Settings:
    return Settings(database_url=database.url, fhir_url=receiver.url, fhir_token_url=receiver.token_url,
                    fhir_client_id=CLIENT_ID, fhir_client_secret=CLIENT_SECRET, public_url="https://video.example.no")


def queue_exports(database: Database, settings: Settings, ids: list[int]) -> None:
    with database.session() as session:
        for appointment_id in ids:
            appointment = session.get(Appointment, appointment_id)
            assert appointment is not None
            assert fhir.export_on_outcome(session, appointment, settings) is not None
        session.commit()


def test_two_senders_deliver_each_record_exactly_once(database: Database, receiver: FhirReceiver) -> None:
    settings = fhir_settings(receiver, database)
    ids = [add_consultation(database, number=number) for number in range(4)]
    queue_exports(database, settings, ids)
    nodes = [Database(database.url), Database(database.url)]

    async def both() -> None:
        senders = [outbox.Sender(node, fhir.FhirBackend.from_settings(settings)) for node in nodes]
        for _ in range(3):
            await asyncio.gather(*(sender.run_once() for sender in senders))

    asyncio.run(both())
    for node in nodes:
        node.dispose()
    assert len(receiver.requests) == 4
    encounters = [url for url in receiver.stored if url.startswith("Encounter?")]
    assert sorted(encounters) == sorted(f"Encounter?identifier=https://video.example.no/fhir/appointment|{i}"
                                        for i in ids)
    with database.session() as session:
        assert set(session.scalars(select(OutboxMessage.state))) == {OutboxState.sent}


@SQLITE_ONLY
def test_a_record_is_sent_again_after_the_server_answered_503(database: Database, receiver: FhirReceiver) -> None:
    settings = fhir_settings(receiver, database)
    queue_exports(database, settings, [add_consultation(database)])
    receiver.unavailable = 1
    sender = outbox.Sender(database, fhir.FhirBackend.from_settings(settings))
    asyncio.run(sender.run_once())
    with database.session() as session:
        message = session.scalars(select(OutboxMessage)).one()
        assert message.state is OutboxState.pending and "503" in message.last_error
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
    asyncio.run(sender.run_once())
    assert len(receiver.requests) == 1 and len(receiver.stored) == 4  # encounter, consent, charge, journal note
    with database.session() as session:
        assert session.scalars(select(OutboxMessage.state)).one() is OutboxState.sent


@SQLITE_ONLY
def test_a_record_the_server_refuses_is_shown_to_staff_as_failed(database: Database, receiver: FhirReceiver) -> None:
    settings = fhir_settings(receiver, database)
    appointment_id = add_consultation(database)
    queue_exports(database, settings, [appointment_id])
    with database.session() as session:  # the server refuses what the export made: here, an Encounter without class
        message = session.scalars(select(OutboxMessage)).one()
        body = json.loads(message.body)
        del body["entry"][0]["resource"]["class"]
        message.body = json.dumps(body)
        session.commit()
    asyncio.run(outbox.Sender(database, fhir.FhirBackend.from_settings(settings)).run_once())
    assert receiver.requests == []
    with database.session() as session:
        message = session.scalars(select(OutboxMessage)).one()
        assert message.state is OutboxState.failed and message.failure_reason == "record_rejected"
        assert message.last_error.startswith("FHIR server answered 400")
        (failure,) = delivery.failures(session, [appointment_id])[appointment_id]
        assert failure.channel == "fhir"
        assert failure.reason_text == "the patient record system refused it (tell IT)"


@SQLITE_ONLY
def test_nothing_is_queued_without_a_fhir_server(database: Database) -> None:
    appointment_id = add_consultation(database)
    with database.session() as session:
        appointment = session.get(Appointment, appointment_id)
        assert appointment is not None
        assert fhir.export_on_outcome(session, appointment, Settings(database_url=database.url)) is None



@SQLITE_ONLY
def test_a_static_token_and_an_expired_access_token_both_get_through(database: Database,
                                                                    receiver: FhirReceiver) -> None:
    settings = fhir_settings(receiver, database)
    queue_exports(database, settings, [add_consultation(database, number=0), add_consultation(database, number=1)])
    receiver.tokens.add("static-token-from-it")
    static = fhir.FhirBackend(receiver.url, token="static-token-from-it")
    oauth = fhir.FhirBackend.from_settings(settings)

    async def send() -> None:
        with database.session() as session:
            first, second = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        await static.send(first)
        await oauth.send(second)  # fetches an access token
        receiver.tokens.discard(oauth.access_token)  # the server forgets it: 401, a fresh one, sent
        await oauth.send(second)

    asyncio.run(send())
    assert len(receiver.requests) == 3
    assert oauth.access_token in receiver.tokens


GROUP = (("Kari Nordmann", "patient"), ("Per Hansen", "patient"), ("Aisha Ali", "patient"), ("Liv Hansen", "companion"),
         ("Tolk Ali", "interpreter"))


def add_group(database: Database) -> tuple[int, dict[str, str]]:
    """A group consultation of the demo clinician that took place and ended: three patients (Kari, the booked
    one, with a fødselsnummer), Per's companion and an interpreter; its id and each person's invitation."""
    with database.session() as session:
        clinician = session.scalars(select(Staff).where(Staff.email == demo.PEOPLE[0][0])).one()
        patient = Patient(national_id=FNR, phone="+4741234567", name="Kari Nordmann")
        appointment = Appointment(department=clinician.department, clinician=clinician, booked_by_id=clinician.id,
                                  starts_at=STARTS, duration_minutes=90, patient_name="Kari Nordmann",
                                  patient_phone="+4741234567", patient=patient, kind="group", outcome="completed",
                                  outcome_confirmed=True, started_at=STARTS, media_flowed=True,
                                  ended_at=STARTS + dt.timedelta(minutes=75))
        room = Room(public_id="group-room", appointment=appointment, host_id=clinician.id, state=RoomState.ended)
        people = [Participant(public_id=f"inv{number}", room=room, kind=kind, token_hash=f"group{number}",
                              code="123456", phone=f"+474123500{number}", display_name="" if number == 0 else name,
                              state=ParticipantState.left) for number, (name, kind) in enumerate(GROUP)]
        session.add_all([appointment, room, *people])
        session.flush()
        session.add(ConsentEvent(patient_id=patient.id, appointment_id=appointment.id, kind="given", at=STARTS,
                                 text_version="2026-1", language="nb", recorded_by="patient", how="knock"))
        session.commit()
        return appointment.id, {name: person.public_id for (name, _kind), person in zip(GROUP, people)}


def test_each_patient_of_a_group_gets_their_own_record_and_never_anothers(tmp_path: Path,
                                                                         receiver: FhirReceiver) -> None:
    settings = make_settings(tmp_path, fhir_url=receiver.url, fhir_token_url=receiver.token_url,
                             fhir_client_id=CLIENT_ID, fhir_client_secret=CLIENT_SECRET,
                             public_url="https://video.example.no")
    server = InProcess(settings).start()
    try:
        appointment_id, invitations = add_group(server.database)
        choices = {"Kari Nordmann": {"outcome": "completed", "follow_up": True},
                   "Per Hansen": {"outcome": "technical_failure", "failure_reason": "no_connection"},
                   "Aisha Ali": {"outcome": "completed", "exemption": "frikort", "follow_up": False}}
        patients = f"{server.url}/api/v1/appointments/{appointment_id}/patients"
        for name, body in choices.items():  # the host records each patient's outcome; each is sent at once
            answer = server.put(f"{patients}/{invitations[name]}/outcome", json=body,
                                headers={"Authorization": f"Bearer {server.token}"})
            assert answer.status_code == 200, answer.text
        eventually(lambda: len(receiver.requests) == 3, "the three records reach the FHIR server", timeout=30)
    finally:
        server.stop()

    def stored(kind: str, name: str) -> Any:
        system = "https://video.example.no/fhir/" + {"Encounter": "appointment", "ChargeItem": "charge",
                                                      "DocumentReference": "journal-note"}[kind]
        return receiver.stored[f"{kind}?identifier={system}|{appointment_id}-{invitations[name]}"]

    # each patient has their own encounter, charge and journal note, with their own outcome
    kari, per, aisha = (stored("Encounter", name) for name in choices)
    assert kari["subject"] == {"type": "Patient", "display": "Kari Nordmann",
                               "identifier": {"system": record_export.FNR, "value": FNR}}
    assert per["subject"] == {"display": "Per Hansen"} and aisha["subject"] == {"display": "Aisha Ali"}
    assert [(e["status"], e["extension"][0]["valueCode"]) for e in (kari, per, aisha)] == [
        ("finished", "completed"), ("cancelled", "technical_failure"), ("finished", "completed")]
    assert per["reasonCode"][0]["coding"][0]["code"] == "no_connection"
    roles = [p["type"][0]["coding"][0]["code"] for p in aisha["participant"]]
    assert roles == ["PPRF", "INTRP"]  # the clinician and the interpreter; no other patient, no one's companion
    charges = [stored("ChargeItem", name) for name in choices]
    assert [(c["status"], c["priceOverride"]["value"], c.get("overrideReason")) for c in charges] == [
        ("billable", 375.0, None), ("not-billable", 0.0, "technical_failure"), ("not-billable", 0.0, "frikort")]
    assert charges[2]["reason"][0]["coding"][0]["code"] == "frikort"
    notes = {name: base64.b64decode(stored("DocumentReference", name)["content"][0]["attachment"]["data"]).decode()
             for name in choices}
    assert "Utfall: Gjennomført." in notes["Kari Nordmann"] and "Oppfølging: avtalt." in notes["Kari Nordmann"]
    assert "Utfall: Teknisk svikt (Ingen forbindelse)." in notes["Per Hansen"]
    assert "Oppfølging: ingen avtalt." in notes["Aisha Ali"]
    # a patient's record names no other patient, nor the companion who came with one of them
    for name, note in notes.items():
        assert name in note and "Gruppekonsultasjon med 2 andre pasienter." in note
        others = [other for other, kind in GROUP if other != name and kind in ("patient", "companion")]
        assert not [other for other in others if other in note], note
    for name in choices:
        text = json.dumps([stored(kind, name) for kind in ("Encounter", "ChargeItem", "DocumentReference")])
        assert not [other for other, kind in GROUP if other != name and kind in ("patient", "companion")
                    and other in text]
    # the consent is the booked patient's own, with her record; no whole-group encounter under her name
    consents = [url for url in receiver.stored if url.startswith("Consent?")]
    assert len(consents) == 1
    assert f"Encounter?identifier=https://video.example.no/fhir/appointment|{appointment_id}" not in receiver.stored
