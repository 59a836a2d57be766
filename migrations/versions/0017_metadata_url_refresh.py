"""Metadata from a URL, kept fresh: a provider's metadata URL, the certificate its (federation) metadata is signed
with, when it was last refreshed, the claim of the worker refreshing it now, and why the last refresh failed

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 22:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

COLUMNS = ('metadata_url', 'metadata_signing_cert', 'last_refreshed', 'refresh_claimed_at', 'refresh_error')


def upgrade():
    # Columns are added in place, never through a batch copy: on SQLite a copy drops the old table, and with it,
    # through ON DELETE CASCADE, every certificate, mapping, binding, session, seat and token of its rows.
    op.add_column('identity_provider', sa.Column('metadata_url', sa.String(length=1000), nullable=True))
    op.add_column('identity_provider', sa.Column('metadata_signing_cert', sa.Text(), nullable=True))
    op.add_column('identity_provider', sa.Column('last_refreshed', sa.DateTime(), nullable=True))
    op.add_column('identity_provider', sa.Column('refresh_claimed_at', sa.DateTime(), nullable=True))
    op.add_column('identity_provider', sa.Column('refresh_error', sa.Text(), nullable=True))


def downgrade():
    # In place, not a batch copy: on SQLite that drops the old table, and its ON DELETE CASCADE children with it.
    for column in reversed(COLUMNS):
        op.execute(f'ALTER TABLE identity_provider DROP COLUMN {column}')
