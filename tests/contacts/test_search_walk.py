"""A search that matches many contacts may find its page by walking the sort order (SQLite): the rows must be
exactly those the plain query gives, for every sort, direction and page, including when the walk gives up."""
import pytest
from sqlalchemy import func, select

from crm.contacts.models import Account, Contact
from crm.contacts.services import _walk_in_sort_order, search_contacts, search_statement
from crm.extensions import db
from crm.pagination import paginate
from crm.search_keys import fold

PER_PAGE = 25


@pytest.fixture
def crowd(app):
    """5,000 contacts, three in five of them named A… (enough matches for the walk to be worth it)."""
    accounts = [Account(name=f"{letter}cme {i}") for i, letter in enumerate("ab" * 10)]
    db.session.add_all(accounts)
    first = ["Aaron", "Abby", "Adele", "Alma", "Amos", "Bruno", "Cleo", "Dora"]
    db.session.add_all(Contact(full_name=f"{first[i % 8 if i % 5 < 3 else 5 + i % 3]} Person{i:05d}",
                               given_name=first[i % 8], surname=f"S{i % 97:02d}son",
                               email=f"p{i}@example.com", account=accounts[i % 20]) for i in range(5000))
    db.session.commit()


def _plain(q, sort, descending, page):
    return [c.id for c in paginate(search_statement(q, sort, descending), page, PER_PAGE, key=Contact.id).items]


def test_walk_gives_the_same_pages_as_the_plain_query(app, crowd):
    cases = [(q, sort, descending) for q in ("a", "A", "ab", "b", "s4", "acme", "zzz")
             for sort in ("name", "email", "created") for descending in (False, True)]
    for q, sort, descending in cases:
        total = db.session.scalar(select(func.count()).select_from(search_statement(q).subquery()))
        last = max((total + PER_PAGE - 1) // PER_PAGE, 1)
        for page in sorted({1, 2, 3, last // 2 or 1, last}):
            got = search_contacts(q, sort, descending, page, PER_PAGE)
            assert [c.id for c in got.items] == _plain(q, sort, descending, page), (q, sort, descending, page)
            assert got.total == total


@pytest.mark.sqlite_only  # the walk is SQLite's: PostgreSQL's planner chooses it itself from its statistics
def test_the_walk_is_taken_for_a_crowded_first_page_and_given_up_far_in(app, crowd):
    total = db.session.scalar(select(func.count()).select_from(search_statement("a").subquery()))
    walk = _walk_in_sort_order(fold("a"), "name", False)
    assert walk(0, PER_PAGE, total) is not None  # the first page comes from the walk
    assert walk(total - PER_PAGE, PER_PAGE, total) is None  # the last page is beyond it: the plain query runs
