"""The patient as a record of their own: found by national identity number when the booker gives one,
else by phone, so that consent and its withdrawal follow them to their next booking.

The national identity number (fødselsnummer or D-number, checked by python-stdnum through
:mod:`visitt.nationalid`) is kept for matching and the export only: it is never logged, never put in
a URL or an SMS, and never shown to the patient.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt import nationalid
from visitt.store.models import Patient
from visitt.web.i18n import N_

NATIONAL_ID_REFUSED = N_("Enter an 11-digit national identity number (fødselsnummer or D-number), "
                         "or leave the field empty.")


def clean_national_id(text: str) -> str | None:
    """``text`` as 11 digits if it is a valid fødselsnummer or D-number (spaces allowed), "" if empty,
    None if it is not one."""
    digits = "".join(text.split())
    if not digits:
        return ""
    return digits if nationalid.is_valid(digits) else None


def match(session: Session, *, national_id: str, phone: str, name: str) -> Patient:
    """The patient a booking is for: the one with this national identity number, else (none given) the
    first one with this phone number; a new one if none is found. A match by phone
    takes the name as booked now."""
    found: Patient | None
    if national_id:
        found = session.scalar(select(Patient).where(Patient.national_id == national_id))
    else:
        found = session.scalars(select(Patient).where(Patient.phone == phone).order_by(Patient.id)).first()
    if found is None:
        found = Patient(national_id=national_id or None, phone=phone, name=name)
        session.add(found)
        session.flush()
        return found
    found.phone, found.name = phone, name
    return found
