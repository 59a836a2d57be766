"""Audit flood control: repeated refusals folded into one event, indexes that match the audit filters; providers
that sign their logout messages

A refusal repeated by one client (same provider, reason and minute) is one event with a count and a last-seen
time (fold_key names it; unique among the events that have one). Each filter of the audit page (category,
outcome, provider, user as actor, target or NameID) gets an index in the list's order (occurred_at, id), which
replaces the filter column's plain index; provider and outcome, the page's usual pair, one together. identity_provider.logout_signed: unsigned logout messages from that
provider are refused.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

FILTERED = ('category', 'outcome', 'idp_slug', 'actor_name', 'target_label', 'name_id')
OLD = {'ix_audit_event_actor_name': ['actor_name'], 'ix_audit_event_category_occurred_at': ['category', 'occurred_at'],
       'ix_audit_event_idp_slug': ['idp_slug'], 'ix_audit_event_outcome': ['outcome'],
       'ix_audit_event_target_label': ['target_label']}
FOLDED = sa.text('fold_key IS NOT NULL')


def upgrade():
    # Columns are added in place, never through a batch copy: on SQLite a copy drops the old table, and with it,
    # through ON DELETE CASCADE, every certificate, mapping and user binding of every provider.
    op.add_column('identity_provider', sa.Column('logout_signed', sa.Boolean(), server_default=sa.false(),
                                                 nullable=False))
    op.add_column('audit_event', sa.Column('repeat_count', sa.Integer(), server_default='1', nullable=False))
    op.add_column('audit_event', sa.Column('last_seen_at', sa.DateTime(), nullable=True))
    op.add_column('audit_event', sa.Column('fold_key', sa.String(length=64), nullable=True))
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        for name in OLD:
            batch_op.drop_index(name)
        for column in FILTERED:
            batch_op.create_index(f'ix_audit_event_{column}_occurred_at_id', [column, 'occurred_at', 'id'], unique=False)
        batch_op.create_index('ix_audit_event_idp_slug_outcome_occurred_at_id', ['idp_slug', 'outcome', 'occurred_at',
                                                                                 'id'], unique=False)
        batch_op.create_index('ix_audit_event_fold_key', ['fold_key'], unique=True, sqlite_where=FOLDED,
                              postgresql_where=FOLDED)


def downgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_fold_key')
        batch_op.drop_index('ix_audit_event_idp_slug_outcome_occurred_at_id')
        for column in FILTERED:
            batch_op.drop_index(f'ix_audit_event_{column}_occurred_at_id')
        for name, columns in OLD.items():
            batch_op.create_index(name, columns, unique=False)
    for column in ('fold_key', 'last_seen_at', 'repeat_count'):
        op.execute(f'ALTER TABLE audit_event DROP COLUMN {column}')
    # In place, not a batch copy: on SQLite that drops the old table, and its ON DELETE CASCADE children with it.
    op.execute('ALTER TABLE identity_provider DROP COLUMN logout_signed')
