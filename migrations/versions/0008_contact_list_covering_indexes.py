"""The contact list's order indexes hold the searched columns too (a million contacts, read from indexes)

A search walks an order, or collects a branch's matches with their sort keys, from the index alone, never
visiting the table (crm/contacts/search.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 10:00:00

"""
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

WIDE = {
    'ix_contact_name_key_id': ['name_key', 'id', 'surname_key', 'email_key', 'account_id', 'created_at'],
    'ix_contact_surname_key': ['surname_key', 'name_key', 'email_key', 'created_at', 'id'],
    'ix_contact_email_key_id': ['email_key', 'id', 'name_key', 'surname_key', 'account_id', 'created_at'],
    'ix_contact_created_at_id': ['created_at', 'id', 'name_key', 'surname_key', 'email_key', 'account_id'],
}
NARROW = {
    'ix_contact_name_key_id': ['name_key', 'id'],
    'ix_contact_surname_key': ['surname_key'],
    'ix_contact_email_key_id': ['email_key', 'id'],
    'ix_contact_created_at_id': ['created_at', 'id'],
}


def _replace(indexes):
    with op.batch_alter_table('contact', schema=None) as batch_op:
        for name, columns in indexes.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, columns, unique=False)


def upgrade():
    _replace(WIDE)


def downgrade():
    _replace(NARROW)
