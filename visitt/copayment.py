"""The co-payment (egenandel) a consultation's outcome leaves the patient with: a decision recorded and
exported, never an invoice sent (``docs/record.md``).

A video consultation costs the patient the same as attending in person, and nothing when technology
failed or the clinic cancelled. The amounts and the exemption reasons are data with validity dates
(:class:`~visitt.store.models.CopaymentRate`, :class:`~visitt.store.models.CopaymentExemption`), seeded
by the migration: a new year's rate is a new row, not a release.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from visitt.store.models import Appointment, CopaymentExemption, CopaymentRate, PatientOutcome
from visitt.web.i18n import N_

SERVICE = "video_consultation"
CLINIC_TZ = ZoneInfo("Europe/Oslo")  # the rate's dates are Norwegian calendar days
# The outcomes that cost the patient a co-payment: the consultation took place (by video or by phone).
CHARGED = frozenset({"completed", "continued_by_phone"})
# The exemption reasons' names, for the booking form (the codes themselves are rows of the table).
EXEMPTION_NAMES = {
    "frikort": N_("Exemption card (frikort)"),
    "child_under_16": N_("Child under 16"),
    "mental_health_under_18": N_("Under 18 in mental health care"),
    "pregnancy": N_("Pregnancy and birth"),
    "other": N_("Other (give the reason)"),
}


@dataclass(frozen=True)
class CopaymentDecision:
    """What the patient owes for a consultation. ``reason``: why nothing (an outcome or an exemption code),
    ``None`` when charged; ``rate``: the table row the amount came from."""

    amount_nok: Decimal
    exempt: bool
    reason: str | None
    rate: CopaymentRate | None


def _valid_on(valid_from: InstrumentedAttribute[dt.date], valid_to: InstrumentedAttribute[dt.date | None],
              day: dt.date) -> ColumnElement[bool]:
    return and_(valid_from <= day, or_(valid_to.is_(None), valid_to >= day))


def rate_on(session: Session, day: dt.date, service: str = SERVICE) -> CopaymentRate | None:
    """The rate valid on ``day`` (the newest such row, should periods overlap)."""
    query = (select(CopaymentRate).where(CopaymentRate.service == service)
             .where(_valid_on(CopaymentRate.valid_from, CopaymentRate.valid_to, day))
             .order_by(CopaymentRate.valid_from.desc(), CopaymentRate.id.desc()))
    return session.scalars(query).first()


def exemptions_on(session: Session, day: dt.date) -> dict[str, CopaymentExemption]:
    """The exemption reasons valid on ``day``, by code."""
    query = (select(CopaymentExemption)
             .where(_valid_on(CopaymentExemption.valid_from, CopaymentExemption.valid_to, day))
             .order_by(CopaymentExemption.id))
    return {row.code: row for row in session.scalars(query)}


def day_of(appointment: Appointment) -> dt.date:
    return appointment.starts_at.astimezone(CLINIC_TZ).date()


def copayment_for(session: Session, appointment: Appointment) -> CopaymentDecision:
    """The co-payment for ``appointment`` from its outcome and its exemption, at the rate of its day."""
    rate = rate_on(session, day_of(appointment))
    if appointment.outcome not in CHARGED:
        return CopaymentDecision(Decimal("0.00"), True, appointment.outcome or "no_outcome", rate)
    if appointment.exemption:
        return CopaymentDecision(Decimal("0.00"), True, appointment.exemption, rate)
    if rate is None:  # no rate configured for that day: nothing can be charged, and the export says why
        return CopaymentDecision(Decimal("0.00"), False, "no_rate", None)
    return CopaymentDecision(Decimal(rate.amount_nok).quantize(Decimal("0.01")), False, None, rate)


def copayment_for_patient(session: Session, appointment: Appointment,
                          row: PatientOutcome | None) -> CopaymentDecision:
    """One patient's co-payment in a group consultation (``visitt.outcomes.record_for_patient``): the same
    rule as :func:`copayment_for`, from that patient's own outcome and exemption."""
    rate = rate_on(session, day_of(appointment))
    if row is None or row.outcome not in CHARGED:
        return CopaymentDecision(Decimal("0.00"), True, row.outcome if row else "no_outcome", rate)
    if row.exemption:
        return CopaymentDecision(Decimal("0.00"), True, row.exemption, rate)
    if rate is None:
        return CopaymentDecision(Decimal("0.00"), False, "no_rate", None)
    return CopaymentDecision(Decimal(rate.amount_nok).quantize(Decimal("0.01")), False, None, rate)
