"""API tokens expire and can be revoked (issue 15)

Tokens made before this revision had no end: they get one 90 days from the upgrade, the default
for new tokens, so a booking system keeps working while its operator replaces them.

Revision ID: 0009
Revises: 0008
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

EXISTING_TOKEN_DAYS = 90


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    tokens = sa.table("api_tokens", sa.column("expires_at", sa.DateTime(timezone=True)))
    ends = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=EXISTING_TOKEN_DAYS)
    op.execute(tokens.update().values(expires_at=ends))
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("expires_at")
