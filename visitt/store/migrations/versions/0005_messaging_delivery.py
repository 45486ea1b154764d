"""e-mail addresses and operator delivery status (issue 4)

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.add_column(sa.Column("patient_email", sa.String(length=254), nullable=False, server_default=""))
        batch.add_column(sa.Column("calendar_sequence", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("provider_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("delivery_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("delivery_status_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("failure_reason", sa.String(length=32), nullable=True))
        batch.create_index("ix_outbox_provider_id", ["provider_id"])
        batch.create_index("ix_outbox_appointment_id", ["appointment_id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_appointment_id")
        batch.drop_index("ix_outbox_provider_id")
        batch.drop_column("failure_reason")
        batch.drop_column("delivery_status_at")
        batch.drop_column("delivery_status")
        batch.drop_column("provider_id")
    with op.batch_alter_table("appointments") as batch:
        batch.drop_column("calendar_sequence")
        batch.drop_column("patient_email")
