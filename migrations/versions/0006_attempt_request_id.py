"""Sign-in attempts remember the request this browser had pending (their reports check InResponseTo)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 17:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sign_in_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=256), nullable=True))


def downgrade():
    with op.batch_alter_table('sign_in_attempt', schema=None) as batch_op:
        batch_op.drop_column('request_id')
