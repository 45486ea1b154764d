"""the consultation's record: the patient, consent, outcome and co-payment (issue 19)

Appointments made before this revision have no patient and no outcome; their state stays as it
was. The co-payment tables are seeded with the 2026 rate and the exemption reasons, as data: a new
year's rate is a new row (docs/record.md says where the figure comes from).

Revision ID: 0010_record
Revises: 0010_sso
"""
import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0010_record"
down_revision = "0010_sso"
branch_labels = None
depends_on = None

RATE_2026 = Decimal("375.00")  # specialist outpatient consultation, 2026 (docs/record.md#co-payment)
EXEMPTIONS = (  # code, needs a reason
    ("frikort", False),
    ("child_under_16", False),
    ("mental_health_under_18", False),
    ("pregnancy", False),
    ("other", True),
)


def upgrade() -> None:
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("national_id", sa.String(length=11), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("withdrew_video_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("national_id"),
    )
    with op.batch_alter_table("patients") as batch:
        batch.create_index(batch.f("ix_patients_phone"), ["phone"], unique=False)

    with op.batch_alter_table("appointments") as batch:
        batch.add_column(sa.Column("patient_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("external_ref", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("video_suitable_confirmed", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("exemption", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("exemption_reason", sa.String(length=200), nullable=False, server_default=""))
        batch.add_column(sa.Column("outcome", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("failure_reason", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("outcome_confirmed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("outcome_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("follow_up", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("outcome_note", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("media_flowed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key("fk_appointments_patient_id", "patients", ["patient_id"], ["id"])
        batch.create_foreign_key("fk_appointments_outcome_by_id", "staff", ["outcome_by_id"], ["id"])
        batch.create_index(batch.f("ix_appointments_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "consent_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text_version", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("recorded_by", sa.String(length=16), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("how", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointments.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent_events") as batch:
        batch.create_index(batch.f("ix_consent_events_patient_id"), ["patient_id"], unique=False)
        batch.create_index(batch.f("ix_consent_events_appointment_id"), ["appointment_id"], unique=False)

    rates = op.create_table(
        "copayment_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("amount_nok", sa.Numeric(8, 2), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    exemptions = op.create_table(
        "copayment_exemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("needs_reason", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("copayment_exemptions") as batch:
        batch.create_index(batch.f("ix_copayment_exemptions_code"), ["code"], unique=False)
    op.bulk_insert(rates, [{"service": "video_consultation", "valid_from": dt.date(2026, 1, 1),
                            "valid_to": None, "amount_nok": RATE_2026}])
    op.bulk_insert(exemptions, [{"code": code, "valid_from": dt.date(2000, 1, 1), "valid_to": None,
                                 "needs_reason": needs_reason} for code, needs_reason in EXEMPTIONS])


def downgrade() -> None:
    op.drop_table("copayment_exemptions")
    op.drop_table("copayment_rates")
    with op.batch_alter_table("consent_events") as batch:
        batch.drop_index(batch.f("ix_consent_events_appointment_id"))
        batch.drop_index(batch.f("ix_consent_events_patient_id"))
    op.drop_table("consent_events")
    with op.batch_alter_table("appointments") as batch:
        batch.drop_index(batch.f("ix_appointments_patient_id"))
        batch.drop_constraint("fk_appointments_outcome_by_id", type_="foreignkey")
        batch.drop_constraint("fk_appointments_patient_id", type_="foreignkey")
        for column in ("ended_at", "started_at", "media_flowed", "outcome_note", "follow_up", "outcome_at",
                       "outcome_by_id", "outcome_confirmed", "failure_reason", "outcome", "exemption_reason",
                       "exemption", "video_suitable_confirmed", "external_ref", "patient_id"):
            batch.drop_column(column)
    with op.batch_alter_table("patients") as batch:
        batch.drop_index(batch.f("ix_patients_phone"))
    op.drop_table("patients")
