"""Seat reclaim for JIT users: a per-provider number of days without sign-in after which a user is deactivated as
dormant, and when a user was last made active again (the dormant clock starts over then)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 22:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    # In place, never through a batch copy: on SQLite a copy drops the old table, and with it, through ON DELETE
    # CASCADE, every certificate, mapping, binding, session, seat and role of its rows.
    op.add_column('identity_provider', sa.Column('dormant_days', sa.Integer(), nullable=True))
    op.add_column('user_account', sa.Column('reactivated_at', sa.DateTime(), nullable=True))


def downgrade():
    op.execute('ALTER TABLE user_account DROP COLUMN reactivated_at')
    op.execute('ALTER TABLE identity_provider DROP COLUMN dormant_days')
