"""The console-wide idle timeout of sessions becomes a setting on the Single Sign On configuration page (one row;
without it the server's CRM_SESSION_IDLE_MINUTES holds)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 01:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'session_policy',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('idle_minutes', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('id = 1', name=op.f('ck_session_policy_one_row')),
        sa.CheckConstraint('idle_minutes BETWEEN 5 AND 1440', name=op.f('ck_session_policy_idle_minutes_range')),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade():
    op.drop_table('session_policy')
