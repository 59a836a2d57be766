"""An immutable id is bound once per provider (the identity resolver's guarantee for every way in)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 17:45:00

"""
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_identity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_identity_provider_id_immutable_id'))
        batch_op.create_index(batch_op.f('ix_user_identity_provider_id_immutable_id'), ['provider_id', 'immutable_id'],
                              unique=True)


def downgrade():
    with op.batch_alter_table('user_identity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_identity_provider_id_immutable_id'))
        batch_op.create_index(batch_op.f('ix_user_identity_provider_id_immutable_id'), ['provider_id', 'immutable_id'],
                              unique=False)
