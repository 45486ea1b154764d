"""the place key: the secret only the page that knocked holds (issue 15)

A reload or a second tab of the same browser takes its place in the waiting room or the call back
with it; another device with the same link or code knocks as a second device instead.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.add_column(sa.Column("place_key_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.drop_column("place_key_hash")
