"""The service provider's own key pairs (the private key sealed with a key derived from SECRET_KEY), when each
provider last fetched our SP metadata (to see who has picked up a new key after a rotation), and per provider
whether our requests to it are signed and whether it must encrypt its assertions

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 23:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    # New tables, and columns added in place (never a batch copy: on SQLite a copy drops identity_provider, and with
    # it, through ON DELETE CASCADE, every certificate, mapping, binding, token and seat of its rows).
    op.add_column('identity_provider', sa.Column('sign_requests', sa.Boolean(), server_default=sa.false(),
                                                 nullable=False))
    op.add_column('identity_provider', sa.Column('want_encrypted', sa.Boolean(), server_default=sa.false(),
                                                 nullable=False))
    op.create_table(
        'sp_key',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created', sa.DateTime(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('certificate_pem', sa.Text(), nullable=False),
        sa.Column('private_key_ciphertext', sa.Text(), nullable=False),
        sa.Column('fingerprint', sa.String(length=95), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sp_key')),
        sa.UniqueConstraint('fingerprint', name=op.f('uq_sp_key_fingerprint')),
    )
    op.create_index('ux_sp_key_state', 'sp_key', ['state'], unique=True)
    op.create_table(
        'sp_metadata_fetch',
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('last_fetched_at', sa.DateTime(), nullable=False),
        sa.Column('fetch_count', sa.Integer(), nullable=False),
        sa.Column('last_address', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['provider_id'], ['identity_provider.id'], ondelete='CASCADE',
                                name=op.f('fk_sp_metadata_fetch_provider_id_identity_provider')),
        sa.PrimaryKeyConstraint('provider_id', name=op.f('pk_sp_metadata_fetch')),
    )


def downgrade():
    op.drop_table('sp_metadata_fetch')
    op.drop_index('ux_sp_key_state', table_name='sp_key')
    op.drop_table('sp_key')
    op.execute('ALTER TABLE identity_provider DROP COLUMN want_encrypted')
    op.execute('ALTER TABLE identity_provider DROP COLUMN sign_requests')
