"""the portal: clinicians listed for unscheduled visitors, and the per-address visit count (issue 4)

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("portal", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "portal_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("portal_visits") as batch:
        batch.create_index(batch.f("ix_portal_visits_at"), ["at"], unique=False)
        batch.create_index(batch.f("ix_portal_visits_address_hash"), ["address_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("portal_visits") as batch:
        batch.drop_index(batch.f("ix_portal_visits_address_hash"))
        batch.drop_index(batch.f("ix_portal_visits_at"))
    op.drop_table("portal_visits")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("portal")
