"""Drop user_identity's index on provider_id alone: three indexes lead with provider_id already (NameID, immutable
id, user order), so it only cost a write on every new binding, and gave the planner one more wrong way to look a
binding up by immutable id on a table it had not measured yet (it read all of the provider's bindings).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 05:10:00

"""
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_user_identity_provider_id', table_name='user_identity')


def downgrade():
    op.create_index('ix_user_identity_provider_id', 'user_identity', ['provider_id'])
