"""The contact list must stay fast at 100,000 rows: its queries are answered from indexes.

SQLite's planner is deterministic, so the plan is asserted here (on SQLite only); PostgreSQL's depends on
table statistics and is measured at 100,000 rows by `make bench` instead.
"""
import pytest
from sqlalchemy import text

from crm.contacts.services import search_statement
from crm.extensions import db

pytestmark = pytest.mark.sqlite_only


def _plan(stmt) -> str:
    compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
    rows = db.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
    return "\n".join(str(r[-1]) for r in rows)


@pytest.mark.parametrize("sort", ["name", "email", "created"])
def test_first_page_is_read_in_index_order_without_sorting_the_table(app, sort):
    plan = _plan(search_statement("", sort).limit(25))
    assert "USE TEMP B-TREE FOR ORDER BY" not in plan, plan
    assert "USING INDEX" in plan, plan


def test_search_uses_the_name_surname_email_and_account_indexes(app):
    plan = _plan(search_statement("smi").limit(25))
    for index in ("ix_contact_name_key_id", "ix_contact_surname_key", "ix_contact_email_key_id"):
        assert index in plan, plan
    assert "SCAN contact" not in plan, plan
