"""companions, interpreters and colleagues (issue 3)

A colleague's invitation may name their staff account: signed in, they join as co-host.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.add_column(sa.Column("staff_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_participants_staff_id", "staff", ["staff_id"], ["id"])
        batch.create_index("ix_participants_staff_id", ["staff_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.drop_index("ix_participants_staff_id")
        batch.drop_constraint("fk_participants_staff_id", type_="foreignkey")
        batch.drop_column("staff_id")
