"""Link an existing account by username, email or never, per identity provider

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 23:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    # In place, never through a batch copy: on SQLite a copy drops the old table, and with it, through ON DELETE
    # CASCADE, every certificate, mapping, binding, token and seat of its rows. Existing providers keep today's rule.
    op.add_column('identity_provider', sa.Column('link_by', sa.String(length=10), server_default='username',
                                                 nullable=False))


def downgrade():
    # In place, not a batch copy (see upgrade).
    op.execute('ALTER TABLE identity_provider DROP COLUMN link_by')
