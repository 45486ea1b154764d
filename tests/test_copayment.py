"""The co-payment decision (visitt/copayment.py): rates and exemption reasons are data with validity dates,
so a new year's rate is a new row; the outcome and the exemption decide whether anything is owed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from visitt.copayment import copayment_for, exemptions_on
from visitt.store.db import Database
from visitt.store.models import Appointment, CopaymentExemption, CopaymentRate

OSLO = ZoneInfo("Europe/Oslo")


def _at(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=OSLO)


def test_the_rate_changes_on_the_first_of_january_and_exemptions_and_outcomes_decide(database: Database) -> None:
    with database.session() as session:
        (seeded,) = session.scalars(select(CopaymentRate))  # the migration's 2026 rate
        assert (seeded.valid_from, seeded.valid_to, seeded.amount_nok) == (dt.date(2026, 1, 1), None, Decimal("375.00"))
        seeded.valid_to = dt.date(2026, 12, 31)
        session.add(CopaymentRate(service="video_consultation", valid_from=dt.date(2027, 1, 1), valid_to=None,
                                  amount_nok=Decimal("390.50")))
        session.commit()

        def owed(starts_at: dt.datetime, outcome: str | None = "completed", exemption: str | None = None) -> tuple[str, bool, str | None]:
            decision = copayment_for(session, Appointment(starts_at=starts_at.astimezone(dt.timezone.utc),
                                                          outcome=outcome, exemption=exemption))
            return str(decision.amount_nok), decision.exempt, decision.reason

        # New Year's Eve late evening and just after midnight, on the clinic's clock (UTC would put both in 2026)
        assert owed(_at(2026, 12, 31, 23, 30)) == ("375.00", False, None)
        assert owed(_at(2027, 1, 1, 0, 30)) == ("390.50", False, None)
        assert owed(_at(2027, 1, 1, 0, 30), "continued_by_phone") == ("390.50", False, None)  # same as in person
        assert owed(_at(2027, 1, 1, 0, 30), exemption="child_under_16") == ("0.00", True, "child_under_16")
        for outcome in ("technical_failure", "cancelled", "patient_withdrew", "no_show", None):
            assert owed(_at(2027, 3, 1, 9), outcome) == ("0.00", True, outcome or "no_outcome")
        assert owed(_at(2025, 6, 1, 9)) == ("0.00", False, "no_rate")  # no row for that day: said, not guessed


def test_exemption_reasons_are_rows_with_validity_dates(database: Database) -> None:
    with database.session() as session:
        assert set(exemptions_on(session, dt.date(2026, 12, 5))) == {
            "frikort", "child_under_16", "mental_health_under_18", "pregnancy", "other"}
        assert exemptions_on(session, dt.date(2026, 12, 5))["other"].needs_reason
        frikort = session.scalar(select(CopaymentExemption).where(CopaymentExemption.code == "frikort"))
        assert frikort is not None
        frikort.valid_to = dt.date(2026, 12, 31)
        session.commit()
        assert "frikort" in exemptions_on(session, dt.date(2026, 12, 31))
        assert "frikort" not in exemptions_on(session, dt.date(2027, 1, 1))
