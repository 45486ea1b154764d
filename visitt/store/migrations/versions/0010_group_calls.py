"""Group consultations: an appointment's kind (issue 20)

Every appointment booked before is an ordinary consultation.

Revision ID: 0010_group_calls
Revises: 0010_record
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_group_calls"
down_revision = "0010_record"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="consultation"))


def downgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.drop_column("kind")
