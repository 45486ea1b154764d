"""six-digit code entry: guest passes and attempt counts

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('guest_passes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('guest_passes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guest_passes_participant_id'), ['participant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guest_passes_expires_at'), ['expires_at'], unique=False)

    op.create_table('code_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('address_hash', sa.String(length=64), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('code_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_code_attempts_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_code_attempts_address_hash'), ['address_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_code_attempts_code_hash'), ['code_hash'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('code_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_code_attempts_code_hash'))
        batch_op.drop_index(batch_op.f('ix_code_attempts_address_hash'))
        batch_op.drop_index(batch_op.f('ix_code_attempts_at'))
    op.drop_table('code_attempts')
    with op.batch_alter_table('guest_passes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guest_passes_expires_at'))
        batch_op.drop_index(batch_op.f('ix_guest_passes_participant_id'))
    op.drop_table('guest_passes')
