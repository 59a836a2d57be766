"""Sessions and time per identity provider: the clock skew allowed on an assertion's times, the longest a session
signed in through it lasts, and ForceAuthn

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 22:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    # Columns are added in place, never through a batch copy: on SQLite a copy drops the old table, and with it,
    # through ON DELETE CASCADE, every certificate, mapping, binding, token and seat of its rows.
    op.add_column('identity_provider', sa.Column('clock_skew_seconds', sa.Integer(), server_default='120',
                                                 nullable=False))
    op.add_column('identity_provider', sa.Column('session_max_hours', sa.Integer(), nullable=True))
    op.add_column('identity_provider', sa.Column('force_authn', sa.Boolean(), server_default=sa.false(),
                                                 nullable=False))


def downgrade():
    # In place, not a batch copy (see upgrade).
    op.execute('ALTER TABLE identity_provider DROP COLUMN force_authn')
    op.execute('ALTER TABLE identity_provider DROP COLUMN session_max_hours')
    op.execute('ALTER TABLE identity_provider DROP COLUMN clock_skew_seconds')
