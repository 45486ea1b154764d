"""privacy pause on rooms, identity checks

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 09:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rooms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('paused_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('pause_reason', sa.String(length=32), nullable=True))

    op.create_table('identity_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.Enum('photo_id', 'known', 'other', name='identitymethod', native_enum=False, length=32), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('checked_by_id', sa.Integer(), nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['checked_by_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], ),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('identity_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_checks_participant_id'), ['participant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('identity_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_checks_participant_id'))

    op.drop_table('identity_checks')
    with op.batch_alter_table('rooms', schema=None) as batch_op:
        batch_op.drop_column('pause_reason')
        batch_op.drop_column('paused_by')
        batch_op.drop_column('paused_at')
