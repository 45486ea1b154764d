"""Staff collaboration rooms: a meeting with no patient (issue 20 §1), and the outbox row's room

Revision ID: 0011_meetings
Revises: 0010_group_calls
"""
import sqlalchemy as sa
from alembic import op

revision = "0011_meetings"
down_revision = "0010_group_calls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meetings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("room_id", sa.Integer(), sa.ForeignKey("rooms.id"), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_meetings_starts_at", "meetings", ["starts_at"])
    # a meeting's invitations by SMS or e-mail have no appointment: their room, for retention
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("room_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_outbox_room_id", "rooms", ["room_id"], ["id"])
        batch.create_index("ix_outbox_room_id", ["room_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_room_id")
        batch.drop_constraint("fk_outbox_room_id", type_="foreignkey")
        batch.drop_column("room_id")
    op.drop_index("ix_meetings_starts_at", "meetings")
    op.drop_table("meetings")
