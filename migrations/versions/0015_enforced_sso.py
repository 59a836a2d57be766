"""Enforced single sign-on: a provider may require it of its users (after a passed Test Sign In), and break-glass
administrators keep their password

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 22:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    # In place, never a batch copy: on SQLite a copy drops the old table, and its ON DELETE CASCADE children with it.
    op.add_column('identity_provider', sa.Column('enforce_sso', sa.Boolean(), server_default=sa.false(),
                                                 nullable=False))
    op.add_column('identity_provider', sa.Column('test_passed_at', sa.DateTime(), nullable=True))
    op.add_column('user_account', sa.Column('break_glass', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    op.execute('ALTER TABLE user_account DROP COLUMN break_glass')
    op.execute('ALTER TABLE identity_provider DROP COLUMN test_passed_at')
    op.execute('ALTER TABLE identity_provider DROP COLUMN enforce_sso')
