"""The consultation's record as FHIR R4: one transaction Bundle per appointment, for the journal and billing.

Built with the models of ``fhir.resources`` (its ``R4B`` package: FHIR 4.3, whose Encounter, Consent,
ChargeItem and Bundle are R4's unchanged - R4B changed only the medication-definition, evidence and
subscription resources), so every resource is validated by the library as it is made; nothing here writes
FHIR JSON by hand. The Bundle holds:

- ``Encounter``: class virtual (``VR``), the call's period, the participants with their roles, the status
  from the outcome, the technical failure's reason, the outcome itself as an extension;
- ``Consent``: each consent given and withdrawn for this appointment;
- ``ChargeItem``: the co-payment decision (:func:`visitt.copayment.copayment_for`) and the exemption;
- ``DocumentReference``: the journal note (:mod:`visitt.journal_note`), in bokmål, as plain text.

A group consultation is exported patient by patient, for each patient's own journal: each patient's
Encounter, ChargeItem and journal note say that patient's outcome (:func:`visitt.outcomes.record_for_patient`)
and co-payment, and name no other patient (nor a companion, who came with one of them). The consents are the
booked patient's, the only one with a patient record.

The patient is referenced by national identity number (fødselsnummer or D-number, by their OIDs) when the
booking has one. Each entry is a conditional update by its business identifier, so sending the Bundle again
changes nothing on the receiver: delivery through the outbox (:mod:`visitt.messaging.fhir`) is idempotent.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.bundle import Bundle, BundleEntry, BundleEntryRequest
from fhir.resources.R4B.chargeitem import ChargeItem
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.attachment import Attachment
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.consent import Consent, ConsentPolicy, ConsentProvision, ConsentProvisionData
from fhir.resources.R4B.documentreference import DocumentReference, DocumentReferenceContent, DocumentReferenceContext
from fhir.resources.R4B.encounter import Encounter, EncounterParticipant
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.money import Money
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.reference import Reference
from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt import groups
from visitt.copayment import CLINIC_TZ, CopaymentDecision, copayment_for, copayment_for_patient
from visitt.store.models import (Appointment, ConsentEvent, IdentityCheck, Participant, ParticipantState,
                                 PatientOutcome)

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"  # fødselsnummer
DNR = "urn:oid:2.16.578.1.12.4.1.4.2"  # D-number (first digit 4-7)
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
# Visitt's own code systems and extensions: URNs, since no public definition stands behind them.
OUTCOME = "urn:visitt:fhir:outcome"
FAILURE_REASON = "urn:visitt:fhir:failure-reason"
CHARGE = "urn:visitt:fhir:charge"
EXEMPTION = "urn:visitt:fhir:copayment-exemption"
# How each outcome reads as an Encounter's status: the consultation took place, or it did not.
STATUS = {"completed": "finished", "continued_by_phone": "finished", "technical_failure": "cancelled",
          "patient_withdrew": "cancelled", "no_show": "cancelled", "cancelled": "cancelled"}
# A participant's kind as a v3 ParticipationType
ROLES = {"patient": ("SBJ", "subject"), "companion": ("ESC", "escort"), "interpreter": ("INTRP", "interpreter"),
         "colleague": ("CON", "consultant")}
TOOK_PART = (ParticipantState.admitted, ParticipantState.left, ParticipantState.removed)
# in one patient's record of a group consultation, only that patient of these kinds is named
PRIVATE = ("patient", "companion")
NOTE_LANGUAGE = "nb"  # the journal's (DIPS's) language


@dataclass(frozen=True)
class PatientPart:
    """One patient's part of a group consultation's record: their invitation, their outcome (``None`` until
    the host records it) and whether they are the booked patient (whose record the booking's identity is)."""

    participant: Participant
    row: PatientOutcome | None
    booked: bool


def patient_parts(session: Session, appointment: Appointment) -> list[PatientPart]:
    """Each patient of a group consultation, the booked patient (the room's first invitation) first."""
    from visitt import outcomes  # outcomes imports rooms, which imports the live protocol

    booked = groups.booked_invitation(appointment)
    rows = sorted(outcomes.patient_rows(session, appointment), key=lambda found: found[0].id)
    return [PatientPart(participant, row, participant is booked) for participant, row in rows]


def _key(appointment: Appointment, part: PatientPart | None) -> str:
    """The business identifier's value: the appointment's id, and for one patient of a group, their invitation's."""
    return str(appointment.id) if part is None else f"{appointment.id}-{part.participant.public_id}"


def _subject(appointment: Appointment, part: PatientPart | None) -> Reference:
    if part is None or part.booked:
        return patient_reference(appointment)
    return Reference(display=part.participant.display_name or "patient")


def identifier_system(public_url: str, what: str) -> str:
    """This Visitt's identifiers of ``what`` (``appointment``, ``consent``, ``charge``, ``journal-note``,
    ``staff``)."""
    return f"{public_url or 'urn:visitt'}/fhir/{what}"


def national_identifier(national_id: str | None) -> Identifier | None:
    if not national_id:
        return None
    return Identifier(system=DNR if national_id[0] in "4567" else FNR, value=national_id)


def patient_reference(appointment: Appointment) -> Reference:
    """The patient by national identity number when known; by name only otherwise."""
    patient = appointment.patient
    name = patient.name if patient is not None else appointment.patient_name
    national = national_identifier(patient.national_id if patient is not None else None)
    return Reference(type="Patient", identifier=national, display=name) if national else Reference(display=name)


def _uuid(system: str, value: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{system}|{value}')}"


def _entry(resource: Any, system: str, value: str) -> BundleEntry:
    kind = resource.get_resource_type()
    return BundleEntry(fullUrl=_uuid(system, value), resource=resource,
                       request=BundleEntryRequest(method="PUT", url=f"{kind}?identifier={system}|{value}"))


def _instant(moment: dt.datetime | None) -> dt.datetime | None:
    return moment.astimezone(dt.timezone.utc).replace(microsecond=0) if moment is not None else None


def took_part(session: Session, appointment: Appointment) -> list[tuple[Participant, IdentityCheck | None]]:
    """The guests who were in the call, each with their newest identity check."""
    if appointment.room is None:
        return []
    found = []
    for participant in appointment.room.participants:
        if participant.state not in TOOK_PART:
            continue
        check = session.scalars(select(IdentityCheck).where(IdentityCheck.participant_id == participant.id)
                                .order_by(IdentityCheck.id.desc()).limit(1)).first()
        found.append((participant, check))
    return found


def _outcome(appointment: Appointment, part: PatientPart | None) -> tuple[str | None, str | None]:
    if part is None:
        return appointment.outcome, appointment.failure_reason
    return (part.row.outcome, part.row.failure_reason) if part.row is not None else (None, None)


def encounter(session: Session, appointment: Appointment, public_url: str,
              part: PatientPart | None = None) -> Encounter:
    """The consultation's Encounter; for ``part``, that patient's of a group consultation."""
    system = identifier_system(public_url, "appointment")
    participants = [EncounterParticipant(
        type=[CodeableConcept(coding=[Coding(system=PARTICIPATION, code="PPRF", display="primary performer")])],
        individual=Reference(type="Practitioner", display=appointment.clinician.full_name,
                             identifier=Identifier(system=identifier_system(public_url, "staff"),
                                                   value=str(appointment.clinician_id))),
    )]
    for participant, _check in took_part(session, appointment):
        if participant.kind == "patient" or (part is not None and participant.kind in PRIVATE):
            continue  # the subject, or someone of another patient's
        code, display = ROLES.get(participant.kind, ("PART", "participation"))
        participants.append(EncounterParticipant(
            type=[CodeableConcept(coding=[Coding(system=PARTICIPATION, code=code, display=display)])],
            individual=Reference(display=participant.display_name or participant.kind)))
    start = _instant(appointment.started_at or appointment.starts_at)
    end = _instant(appointment.ended_at)
    outcome, failure = _outcome(appointment, part)
    reason = None
    if outcome == "technical_failure" and failure:
        reason = [CodeableConcept(coding=[Coding(system=FAILURE_REASON, code=failure)],
                                  text=failure.replace("_", " "))]
    extension = [Extension(url=OUTCOME, valueCode=outcome)] if outcome else None
    identifiers = [Identifier(system=system, value=_key(appointment, part))]
    if appointment.external_ref:
        identifiers.append(Identifier(value=appointment.external_ref, type=CodeableConcept(text="external reference")))
    # by the field's FHIR name: "class" is a Python keyword (the model's own name for it is class_fhir)
    return Encounter.model_validate({
        "identifier": identifiers,
        "status": STATUS.get(outcome or "", "unknown"),
        "class": Coding(system=ACT_CODE, code="VR", display="virtual"),
        "subject": _subject(appointment, part),
        "participant": participants,
        "period": Period(start=start, end=end),
        "reasonCode": reason,
        "extension": extension,
    })


def consent(event: ConsentEvent, appointment: Appointment, encounter_url: str, system: str) -> Consent:
    given = event.kind == "given"
    return Consent(
        identifier=[Identifier(system=system, value=str(event.id))],
        status="active" if given else "inactive",
        scope=CodeableConcept(coding=[Coding(system=CONSENT_SCOPE, code="treatment")]),
        category=[CodeableConcept(text="Video consultation")],
        patient=patient_reference(appointment),
        dateTime=_instant(event.at),
        policy=[ConsentPolicy(uri=f"urn:visitt:consent-text:{event.text_version}")],
        provision=ConsentProvision(type="permit" if given else "deny", data=[
            ConsentProvisionData(meaning="related", reference=Reference(reference=encounter_url))]),
    )


def charge_item(decision: CopaymentDecision, appointment: Appointment, encounter_url: str,
                system: str, part: PatientPart | None = None) -> ChargeItem:
    """The co-payment's ChargeItem; for ``part``, that patient's of a group consultation (their own exemption)."""
    exemption = appointment.exemption if part is None else (part.row.exemption if part.row else None)
    override = None
    if decision.exempt:
        override = decision.reason or "exempt"
        if part is None and appointment.exemption and appointment.exemption_reason:
            override = f"{override}: {appointment.exemption_reason}"
    return ChargeItem(
        identifier=[Identifier(system=system, value=_key(appointment, part))],
        status="billable" if decision.amount_nok > Decimal(0) else "not-billable",
        code=CodeableConcept(coding=[Coding(system=CHARGE, code="video_consultation")],
                             text="Egenandel, videokonsultasjon"),
        subject=_subject(appointment, part),
        context=Reference(reference=encounter_url),
        occurrenceDateTime=_instant(appointment.started_at or appointment.starts_at),
        priceOverride=Money(value=decision.amount_nok, currency="NOK"),
        overrideReason=override,
        reason=[CodeableConcept(coding=[Coding(system=EXEMPTION, code=exemption)])] if exemption else None,
    )


def journal_note(session: Session, appointment: Appointment, encounter_url: str, system: str,
                 part: PatientPart | None = None) -> DocumentReference:
    """The journal note (:func:`visitt.journal_note.note`) as plain text; for ``part``, that patient's own."""
    from visitt import journal_note as journal  # the note names the participants this module finds

    text = journal.note(session, appointment, NOTE_LANGUAGE, CLINIC_TZ, part.row if part else None)
    return DocumentReference(
        identifier=[Identifier(system=system, value=_key(appointment, part))],
        status="current",
        type=CodeableConcept(text="Journal note, video consultation"),
        subject=_subject(appointment, part),
        date=_instant(appointment.ended_at or appointment.starts_at),
        content=[DocumentReferenceContent(attachment=Attachment(
            contentType="text/plain; charset=utf-8", language=NOTE_LANGUAGE,
            data=base64.b64encode(text.encode())))],
        context=DocumentReferenceContext(encounter=[Reference(reference=encounter_url)]),
    )


def bundle(session: Session, appointment: Appointment, *, public_url: str) -> Bundle:
    """The appointment's record as a FHIR R4 transaction Bundle (validated as it is built); a group
    consultation's, each patient's resources in turn."""
    parts: list[PatientPart | None] = [None]
    if groups.is_group(appointment):
        parts = list(patient_parts(session, appointment))
    entries = []
    for part in parts:
        entries.extend(_record(session, appointment, public_url, part))
    return Bundle(type="transaction", entry=entries)


def _record(session: Session, appointment: Appointment, public_url: str,
            part: PatientPart | None) -> list[BundleEntry]:
    """One patient's resources: the appointment's patient's, or ``part``'s of a group consultation."""
    system = identifier_system(public_url, "appointment")
    key = _key(appointment, part)
    encounter_url = _uuid(system, key)
    entries = [_entry(encounter(session, appointment, public_url, part), system, key)]
    if part is None or part.booked:
        consent_system = identifier_system(public_url, "consent")
        for event in session.scalars(select(ConsentEvent).where(ConsentEvent.appointment_id == appointment.id)
                                     .order_by(ConsentEvent.id)):
            entries.append(_entry(consent(event, appointment, encounter_url, consent_system), consent_system,
                                  str(event.id)))
    decision = (copayment_for(session, appointment) if part is None
                else copayment_for_patient(session, appointment, part.row))
    charge_system = identifier_system(public_url, "charge")
    entries.append(_entry(charge_item(decision, appointment, encounter_url, charge_system, part), charge_system, key))
    note_system = identifier_system(public_url, "journal-note")
    entries.append(_entry(journal_note(session, appointment, encounter_url, note_system, part), note_system, key))
    return entries


def to_json(resource: Any) -> str:
    """A resource as FHIR JSON, the library's own serialisation."""
    text: str = resource.model_dump_json(by_alias=True, exclude_none=True)
    return text
