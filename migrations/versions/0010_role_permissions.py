"""Roles grant permissions (view, create, edit, delete contacts and accounts; administer the system)

The grants_admin flag becomes the "system.administer" permission (with every other one, as the Administrators role
has). Every other role existing at upgrade gets what "All employees" starts with (view, create and edit contacts
and accounts), so nobody loses the work they did before roles meant something; an administrator tightens from there.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 20:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

ADMINISTER = 'system.administer'
ALL = ('contacts.view', 'contacts.create', 'contacts.edit', 'contacts.delete',
       'accounts.view', 'accounts.create', 'accounts.edit', 'accounts.delete', ADMINISTER)
EMPLOYEE_DEFAULTS = ('contacts.view', 'contacts.create', 'contacts.edit',
                     'accounts.view', 'accounts.create', 'accounts.edit')


def upgrade():
    grants = op.create_table(
        'role_permission',
        sa.Column('role_id', sa.Integer(), nullable=False),
        sa.Column('permission', sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(['role_id'], ['role.id'], name=op.f('fk_role_permission_role_id_role'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('role_id', 'permission', name=op.f('pk_role_permission')),
    )
    with op.batch_alter_table('role_permission', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_role_permission_permission'), ['permission'], unique=False)
    roles = op.get_bind().execute(sa.text('SELECT id, grants_admin FROM role')).all()
    rows = [{'role_id': role_id, 'permission': p}
            for role_id, admin in roles for p in (ALL if admin else EMPLOYEE_DEFAULTS)]
    if rows:
        op.bulk_insert(grants, rows)
    # Not a batch operation: on SQLite that copies the table and drops the old one, and dropping `role` would
    # delete every membership and permission through their ON DELETE CASCADE. Both engines drop a column in place.
    op.execute('ALTER TABLE role DROP COLUMN grants_admin')


def downgrade():
    op.add_column('role', sa.Column('grants_admin', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(sa.text(f"UPDATE role SET grants_admin = TRUE WHERE id IN "
                       f"(SELECT role_id FROM role_permission WHERE permission = '{ADMINISTER}')"))
    op.drop_table('role_permission')
