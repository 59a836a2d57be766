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


# The statements the list runs (crm/contacts/search.py): each reads one index range, or one order's index from the
# index alone, and never sorts the table.

def _search(q: str):
    from crm.contacts.search import Search

    return Search.prefix(q)


def _place(sort: str, key: str = "m") -> tuple:
    """A row's place in the order: (sort key, id)."""
    from datetime import datetime

    return (datetime(2026, 1, ord(key) - 96), 7) if sort == "created" else (key, 7)


@pytest.mark.parametrize("sort", ["name", "email", "created"])
@pytest.mark.parametrize("descending", [False, True])
def test_a_walk_reads_the_orders_covering_index_in_order_and_stops_at_its_budget(app, sort, descending):
    from crm.contacts.search import SORT_INDEXES, Order, walk_statement

    stmt = walk_statement(_search("smi"), Order(sort, descending), _place(sort), _place(sort, "t"), 26)
    plan = _plan(stmt)
    assert f"USING COVERING INDEX {SORT_INDEXES[sort]}" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize("sort", ["name", "email", "created"])
def test_collecting_a_searchs_matches_reads_each_branchs_own_index(app, sort):
    from crm.contacts.search import Order, collect_statement

    search = _search("smi")
    plan = _plan(collect_statement(search.branches, Order(sort, False), _place(sort)).limit(26))
    for index in ("ix_contact_name_key_id", "ix_contact_surname_key", "ix_contact_email_key_id"):
        assert f"COVERING INDEX {index}" in plan, plan
    assert "SCAN contact" not in plan, plan


@pytest.mark.parametrize("sort", ["name", "email"])
@pytest.mark.parametrize("descending", [False, True])
def test_a_branch_collected_between_two_places_reads_its_own_index_not_the_orders(app, sort, descending):
    from crm.contacts.search import BRANCH_INDEXES, SORT_INDEXES, Branch, Order, collect_statement

    other = "email_key" if sort == "name" else "name_key"  # a given name matches by name and by email
    bounds = (_place(sort, "t"), _place(sort, "b")) if descending else (_place(sort, "b"), _place(sort, "t"))
    plan = _plan(collect_statement([Branch(other, "aa", "ab")], Order(sort, descending), *bounds).limit(26))
    assert f"COVERING INDEX {BRANCH_INDEXES[other]} ({other}>? AND {other}<?)" in plan, plan
    assert SORT_INDEXES[sort] not in plan, plan


@pytest.mark.parametrize("sort", ["name", "email", "created"])
def test_a_page_after_a_row_seeks_into_the_order_without_sorting(app, sort):
    from sqlalchemy import select

    from crm.contacts.models import Contact
    from crm.contacts.search import Order

    order = Order(sort, True)
    stmt = select(order.key(Contact), Contact.id).where(order.beyond(Contact, _place(sort)))
    plan = _plan(stmt.order_by(*order.by(Contact)).limit(26))
    assert "SEARCH contact USING COVERING INDEX" in plan and "TEMP B-TREE" not in plan, plan
