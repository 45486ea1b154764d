"""The training gate, unique six-digit codes and retention (issue 18 §3-4)

Staff who exist at the upgrade are recorded as trained "before the training gate": a hospital that
upgrades in the middle of a day must not find its clinicians unable to host the consultations already
booked. Their administrators see the source in the staff list and can ask them to take the course;
accounts made after the upgrade start untrained.

The codes of invitations to rooms that are still open are claimed in ``active_codes``; where two
open invitations already share a code (drawn by two nodes at once before this revision), the one of
the lower room keeps the claim and the other keeps working as before until its room ends.

Revision ID: 0010_training_codes_retention
Revises: 0009
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0010_training_codes_retention"
down_revision = "0009"
branch_labels = None
depends_on = None

BEFORE_THE_GATE = "before the training gate"


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("trained_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("training_source", sa.String(300), nullable=False, server_default=""))
        batch.add_column(sa.Column("course_read_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("quiz_passed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("test_call_at", sa.DateTime(timezone=True), nullable=True))
    staff = sa.table("staff", sa.column("trained_at", sa.DateTime(timezone=True)),
                     sa.column("training_source", sa.String(300)))
    op.execute(staff.update().values(trained_at=dt.datetime.now(dt.timezone.utc), training_source=BEFORE_THE_GATE))

    op.create_table(
        "active_codes",
        sa.Column("code", sa.String(6), primary_key=True),
        sa.Column("room_id", sa.Integer, sa.ForeignKey("rooms.id"), nullable=False),
    )
    op.create_index("ix_active_codes_room_id", "active_codes", ["room_id"])
    op.execute("INSERT INTO active_codes (code, room_id) SELECT p.code, MIN(p.room_id) FROM participants p "
               "JOIN rooms r ON r.id = p.room_id WHERE r.state != 'ended' GROUP BY p.code")

    op.create_table(
        "retention",
        sa.Column("room_id", sa.Integer, sa.ForeignKey("rooms.id"), primary_key=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("retention")
    op.drop_index("ix_active_codes_room_id", table_name="active_codes")
    op.drop_table("active_codes")
    with op.batch_alter_table("staff") as batch:
        for column in ("test_call_at", "quiz_passed_at", "course_read_at", "training_source", "trained_at"):
            batch.drop_column(column)
