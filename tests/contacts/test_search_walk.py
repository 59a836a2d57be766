"""A search that matches many contacts finds its page by walking the sort order: the rows must be exactly those the
plain query gives, for every sort, direction and page, including when the walk gives up and each branch answers."""
import pytest
from sqlalchemy import func, select

from crm.contacts import search
from crm.contacts.models import Account, Contact
from crm.contacts.services import search_contacts, search_statement
from crm.extensions import db
from crm.pagination import paginate

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


def test_the_walk_is_taken_for_a_crowded_first_page_and_given_up_far_in(app, crowd, monkeypatch):
    # The cap and the budget scaled down to 5,000 contacts, as they stand to a million.
    monkeypatch.setattr(search, "COUNT_CAP", 50)
    monkeypatch.setattr(search, "WALK_BUDGET", 200)
    asked = []
    beyond = search._beyond_the_walk
    monkeypatch.setattr(search, "_beyond_the_walk", lambda *args: asked.append(args[2]) or beyond(*args))
    total = db.session.scalar(select(func.count()).select_from(search_statement("a").subquery()))
    first = search_contacts("a", "name", False, 1, PER_PAGE)
    assert first.total_kind == "more than" and asked == []  # the first page comes from the walk
    last = (total + PER_PAGE - 1) // PER_PAGE
    far = search_contacts("a", "name", False, last, PER_PAGE)
    assert asked  # the last page is beyond the walk: each branch answered for the rest
    assert [c.id for c in far.items] == _plain("a", "name", False, last)
