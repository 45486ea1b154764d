"""Single sign-on by OpenID Connect (issue 18)

The staff member's identifier at the provider (when the matching claim is not the e-mail address),
the departments where single sign-on may make accounts, and the ID token of a session opened by
single sign-on (the hint for signing out at the provider).

Revision ID: 0010_sso
Revises: 0010_admin_console
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_sso"
down_revision = "0010_admin_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("sso_id", sa.String(254), nullable=True))
        batch.create_unique_constraint("uq_staff_sso_id", ["sso_id"])
    with op.batch_alter_table("departments") as batch:
        batch.add_column(sa.Column("sso_auto_create", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("id_token", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("id_token")
    with op.batch_alter_table("departments") as batch:
        batch.drop_column("sso_auto_create")
    with op.batch_alter_table("staff") as batch:
        batch.drop_constraint("uq_staff_sso_id", type_="unique")
        batch.drop_column("sso_id")
