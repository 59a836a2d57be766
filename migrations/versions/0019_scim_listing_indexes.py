"""SCIM listing at 100,000 users: the identity links of a provider in user order, and the users a directory deleted

A directory's import pages through all its users (`GET /Users?startIndex=K&count=100`): the page and the total are
read from the index (provider_id, user_id) of user_identity alone, less the few users the directory deleted, which
the index on user_account.inactive_reason finds without reading the table (bench/scim.py: a page of 100 took up to
0.9 s on PostgreSQL through the joined list).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 22:10:00

"""
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    # Indexes only: nothing is copied, so no ON DELETE CASCADE can fire on SQLite.
    op.create_index('ix_user_identity_provider_id_user_id', 'user_identity', ['provider_id', 'user_id'])
    op.create_index('ix_user_account_inactive_reason', 'user_account', ['inactive_reason'])


def downgrade():
    op.drop_index('ix_user_account_inactive_reason', table_name='user_account')
    op.drop_index('ix_user_identity_provider_id_user_id', table_name='user_identity')
