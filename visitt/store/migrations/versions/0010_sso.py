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
    # plain ALTER TABLE ... ADD COLUMN and a unique index, not a constraint: on SQLite a constraint means copying
    # the table, which the rows that refer to it (staff_departments, api_tokens, ...) do not allow
    op.add_column("staff", sa.Column("sso_id", sa.String(254), nullable=True))
    op.create_index("uq_staff_sso_id", "staff", ["sso_id"], unique=True)
    op.add_column("departments", sa.Column("sso_auto_create", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("web_sessions", sa.Column("id_token", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("id_token")
    with op.batch_alter_table("departments") as batch:
        batch.drop_column("sso_auto_create")
    op.drop_index("uq_staff_sso_id", table_name="staff")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("sso_id")
