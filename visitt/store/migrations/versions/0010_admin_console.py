"""the admin console (issue 18 §2): several departments per account, the department admin role,
last sign-in, departments that offer video or not, named API tokens, one-time sign-up and reset links

Every account that had a department keeps it as its home department and gets it in its new list.

Revision ID: 0010_admin_console
Revises: 0010_local_accounts
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_admin_console"
down_revision = "0010_local_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, which SQLite has: a batch would copy these tables, and SQLite (foreign keys on)
    # refuses to drop the old copy of one that other tables' rows refer to.
    op.add_column("staff", sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("departments", sa.Column("offers_video", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column("api_tokens", sa.Column("name", sa.String(length=100), nullable=False, server_default=""))
    op.create_table(
        "staff_departments",
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("department_id", sa.Integer(), sa.ForeignKey("departments.id"), nullable=False),
        sa.PrimaryKeyConstraint("staff_id", "department_id"),
    )
    op.execute("INSERT INTO staff_departments (staff_id, department_id) "
               "SELECT id, department_id FROM staff WHERE department_id IS NOT NULL")
    op.create_table(
        "staff_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("staff_links") as batch:
        batch.create_index(batch.f("ix_staff_links_staff_id"), ["staff_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_links") as batch:
        batch.drop_index(batch.f("ix_staff_links_staff_id"))
    op.drop_table("staff_links")
    op.drop_table("staff_departments")
    op.execute("UPDATE staff SET role = 'secretary' WHERE role = 'department_admin'")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("name")
    with op.batch_alter_table("departments") as batch:
        batch.drop_column("offers_video")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("last_sign_in_at")
