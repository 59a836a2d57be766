"""A provider may be sent the login page's email inside the AuthnRequest (Subject/NameID), for IdPs that read the
hint there

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 00:05:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    # In place, never a batch copy: on SQLite a copy drops the old table, and its ON DELETE CASCADE children with it.
    op.add_column('identity_provider', sa.Column('hint_in_subject', sa.Boolean(), server_default=sa.false(),
                                                 nullable=False))


def downgrade():
    op.execute('ALTER TABLE identity_provider DROP COLUMN hint_in_subject')
