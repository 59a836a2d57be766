"""Value transforms in the mapping: each row of "SAML field name converters to contact field name" may carry one
transform (lowercase, uppercase, trim, strip-domain, part:SEP:N, regex:PATTERN, join:SEP), as typed

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 23:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    # In place, never a batch copy: a nullable column needs no default, and every existing row keeps no transform.
    op.add_column('attribute_mapping', sa.Column('transform', sa.String(length=250), nullable=True))


def downgrade():
    # In place (see upgrade); the other columns of every row are kept.
    op.execute('ALTER TABLE attribute_mapping DROP COLUMN transform')
