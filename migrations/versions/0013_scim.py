"""SCIM provisioning: a per-provider switch and source of users, SCIM bearer tokens (hashed), and why a user is
inactive (a user the directory deactivated is never reactivated by a SAML sign-in)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 20:15:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    # Columns are added in place, never through a batch copy: on SQLite a copy drops the old table, and with it,
    # through ON DELETE CASCADE, every certificate, mapping, binding, session, seat and role of its rows.
    op.add_column('identity_provider', sa.Column('scim_enabled', sa.Boolean(), server_default=sa.false(),
                                                 nullable=False))
    op.add_column('identity_provider', sa.Column('users_from', sa.String(length=10), server_default='jit',
                                                 nullable=False))
    op.add_column('user_account', sa.Column('inactive_reason', sa.String(length=20), nullable=True))
    op.add_column('user_account', sa.Column('source', sa.String(length=10), nullable=True))
    op.create_table(
        'scim_token',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('hint', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_used_at', sa.DateTime(), nullable=True),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['provider_id'], ['identity_provider.id'], name=op.f('fk_scim_token_provider_id_identity_provider'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_scim_token')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_scim_token_token_hash')),
    )
    op.create_index(op.f('ix_scim_token_provider_id'), 'scim_token', ['provider_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_scim_token_provider_id'), table_name='scim_token')
    op.drop_table('scim_token')
    # In place, not a batch copy: on SQLite that drops the old table, and its ON DELETE CASCADE children with it.
    op.execute('ALTER TABLE user_account DROP COLUMN source')
    op.execute('ALTER TABLE user_account DROP COLUMN inactive_reason')
    op.execute('ALTER TABLE identity_provider DROP COLUMN users_from')
    op.execute('ALTER TABLE identity_provider DROP COLUMN scim_enabled')
