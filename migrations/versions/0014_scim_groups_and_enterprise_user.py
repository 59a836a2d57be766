"""SCIM Groups: a provider's directory groups and their members; role memberships the directory's groups give
(source "scim"); the enterprise user's employeeNumber and manager on the identity link

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 22:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

OLD_SOURCES = "source IN ('manual', 'sso')"
NEW_SOURCES = "source IN ('manual', 'sso', 'scim')"


def _sources(check: str) -> None:
    # role_membership is referenced by no other table, so SQLite's batch copy (the only way it changes a CHECK)
    # loses nothing.
    with op.batch_alter_table('role_membership', recreate='always' if op.get_bind().dialect.name == 'sqlite'
                              else 'auto') as batch:
        batch.drop_constraint(op.f('ck_role_membership_source'), type_='check')
        batch.create_check_constraint(op.f('ck_role_membership_source'), check)


def upgrade():
    op.create_table(
        'directory_group',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('display_name', sa.String(length=250), nullable=False),
        sa.Column('display_key', sa.String(length=250), nullable=False),
        sa.Column('external_id', sa.String(length=250), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['provider_id'], ['identity_provider.id'],
                                name=op.f('fk_directory_group_provider_id_identity_provider'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_directory_group')),
    )
    op.create_index('ix_directory_group_provider_name', 'directory_group', ['provider_id', 'display_key'])
    op.create_index('ix_directory_group_provider_external', 'directory_group', ['provider_id', 'external_id'])
    op.create_table(
        'directory_group_member',
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('display', sa.String(length=250), nullable=True),
        sa.ForeignKeyConstraint(['group_id'], ['directory_group.id'],
                                name=op.f('fk_directory_group_member_group_id_directory_group'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                                name=op.f('fk_directory_group_member_user_id_user_account'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('group_id', 'user_id', name=op.f('pk_directory_group_member')),
    )
    op.create_index(op.f('ix_directory_group_member_user_id'), 'directory_group_member', ['user_id'])
    _sources(NEW_SOURCES)
    # In place, never a batch copy (user_identity's rows are what every sign-in resolves people by).
    op.add_column('user_identity', sa.Column('employee_number', sa.String(length=100), nullable=True))
    op.add_column('user_identity', sa.Column('manager', sa.String(length=250), nullable=True))


def downgrade():
    op.execute('ALTER TABLE user_identity DROP COLUMN manager')
    op.execute('ALTER TABLE user_identity DROP COLUMN employee_number')
    # The directory's roles go with its groups: without them nothing would ever remove those memberships.
    op.execute("DELETE FROM role_membership WHERE source = 'scim'")
    _sources(OLD_SOURCES)
    op.drop_index(op.f('ix_directory_group_member_user_id'), table_name='directory_group_member')
    op.drop_table('directory_group_member')
    op.drop_index('ix_directory_group_provider_external', table_name='directory_group')
    op.drop_index('ix_directory_group_provider_name', table_name='directory_group')
    op.drop_table('directory_group')
