"""Counters of password sign-in tries, shared by every worker process (crm/auth/throttling.py)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 19:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sign_in_throttle',
    sa.Column('key', sa.String(length=48), nullable=False),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('not_before', sa.Float(), nullable=False),
    sa.Column('expires', sa.Float(), nullable=False),
    sa.Column('burst_failures', sa.Integer(), nullable=False),
    sa.Column('burst_started', sa.Float(), nullable=False),
    sa.Column('burst_last', sa.Float(), nullable=False),
    sa.Column('burst_reference', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_sign_in_throttle'))
    )
    with op.batch_alter_table('sign_in_throttle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_throttle_expires'), ['expires'], unique=False)


def downgrade():
    with op.batch_alter_table('sign_in_throttle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_throttle_expires'))

    op.drop_table('sign_in_throttle')
