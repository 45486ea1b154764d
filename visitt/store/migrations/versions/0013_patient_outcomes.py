"""A group consultation's outcome for each patient in it (issue 20 §2): what happened and the co-payment
exemption, one row per patient's invitation

Revision ID: 0013_patient_outcomes
Revises: 0012_meeting_changes
"""
import sqlalchemy as sa
from alembic import op

revision = "0013_patient_outcomes"
down_revision = "0012_meeting_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patient_outcomes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("appointment_id", sa.Integer(), sa.ForeignKey("appointments.id"), nullable=False, index=True),
        sa.Column("participant_id", sa.Integer(), sa.ForeignKey("participants.id"), nullable=False, unique=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("failure_reason", sa.String(32), nullable=True),
        sa.Column("follow_up", sa.Boolean(), nullable=True),
        sa.Column("note", sa.String(500), nullable=False, server_default=""),
        sa.Column("exemption", sa.String(32), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("patient_outcomes")
