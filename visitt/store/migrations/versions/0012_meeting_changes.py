"""Staff meetings that can be moved and cancelled: a guest's language and e-mail address on their invitation
(for the notice), the meeting's calendar SEQUENCE and when it was cancelled

Revision ID: 0012_meeting_changes
Revises: 0011_meetings
"""
import sqlalchemy as sa
from alembic import op

revision = "0012_meeting_changes"
down_revision = "0011_meetings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=False, server_default=""))
        batch.add_column(sa.Column("email", sa.String(254), nullable=False, server_default=""))
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("calendar_sequence", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("cancelled_at")
        batch.drop_column("calendar_sequence")
    with op.batch_alter_table("participants") as batch:
        batch.drop_column("email")
        batch.drop_column("language")
