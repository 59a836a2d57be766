"""Keyset paging of the contact list: following Next from the first page, or Previous from the last, shows exactly
the rows offset paging shows, for every sort and direction, with ties in the sort keys, whether the page comes from
collecting a search's matches or from walking the order; totals are exact up to the cap and say so above it."""
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from crm.contacts import search
from crm.contacts.models import Account, Contact
from crm.contacts.services import search_contacts, search_statement
from crm.extensions import db
from crm.pagination import Window

PER_PAGE = 25
GIVEN = ("Ada", "Ben", "Cara", "Stan")
SURNAMES = ("Smith", "Avery", "Stone")
ROW = re.compile(r'<a href="/contacts/(\d+)">')


@pytest.fixture
def tied(app):
    """300 contacts: 12 full names (25 contacts share each), a third sharing an email, 5 creation times."""
    accounts = [Account(name=n) for n in ("Acme", "Beta", "Stark")]
    db.session.add_all(accounts)
    start = datetime(2026, 1, 1)
    for i in range(300):
        given, surname = GIVEN[i % 4], SURNAMES[i // 4 % 3]
        email = f"{given.lower()}@shared.example" if i % 3 == 0 else f"{given.lower()}.{i}@example.com"
        db.session.add(Contact(given_name=given, surname=surname, full_name=f"{given} {surname}", email=email,
                               account=accounts[i % 3], created_at=start + timedelta(days=i % 5)))
    db.session.commit()


@pytest.fixture(params=["collected", "walked"])
def plan(request, monkeypatch):
    """As they are (a few hundred matches are collected and sorted), or with the cap and the walk's budget scaled
    down as a million contacts scale them up: totals above the cap, walks that give up, branches that answer."""
    if request.param == "walked":
        monkeypatch.setattr(search, "COUNT_CAP", 20)
        monkeypatch.setattr(search, "WALK_BUDGET", 40)
    return request.param


def _expected(q: str, sort: str, descending: bool) -> list[int]:
    return list(db.session.scalars(search_statement(q, sort, descending).with_only_columns(Contact.id)))


def _window(link: dict) -> Window:
    return Window.from_args({k: str(v) for k, v in link.items() if v is not None})


def _follow(q, sort, descending, window, direction):
    """Every page from `window` on, following the pager's `direction` link; their ids in list order."""
    ids, pages = [], 0
    while window is not None:
        page = search_contacts(q, sort, descending, window, PER_PAGE)
        shown = [c.id for c in page.items]
        ids = ids + shown if direction == "next" else shown + ids
        link = page.links[direction]
        window = _window(link) if link is not None else None
        pages += 1
        assert pages < 50, "the pager goes round in circles"
    return ids


CASES = [(q, sort, descending) for q in ("", "s", "st", "a", "zz") for sort in ("name", "email", "created")
         for descending in (False, True)]


def test_next_and_previous_show_what_offset_paging_shows(app, tied, plan):
    for q, sort, descending in CASES:  # one test, not 30: the 300 contacts are written once
        case = (q, sort, descending)
        expected = _expected(q, sort, descending)
        assert _follow(q, sort, descending, Window(), "next") == expected, case
        first = search_contacts(q, sort, descending, Window(), PER_PAGE)
        if first.links["last"] is not None:
            assert _follow(q, sort, descending, _window(first.links["last"]), "previous") == expected, case
        for number in range(1, (len(expected) + PER_PAGE - 1) // PER_PAGE + 1):
            offset = search_contacts(q, sort, descending, number, PER_PAGE)
            assert [c.id for c in offset.items] == expected[(number - 1) * PER_PAGE: number * PER_PAGE], (case, number)


def test_exact_totals_number_every_page_and_last_is_the_last_numbered_page(app, tied):
    page = search_contacts("", "name", False, Window(), PER_PAGE)
    assert (page.total, page.total_kind, page.range_text, page.place_text) == (300, "exact", "1–25 of 300",
                                                                               "Page 1 of 12")
    assert page.links["last"] == {"after": None, "before": None, "page": "12"}
    second = search_contacts("", "name", False, _window(page.links["next"]), PER_PAGE)
    assert (second.range_text, second.place_text) == ("26–50 of 300", "Page 2 of 12")
    assert second.links["previous"] == {"after": None, "before": None, "page": None}  # page 1's own URL
    last = search_contacts("", "name", False, Window.from_args({"page": "last"}), PER_PAGE)
    assert (last.range_text, last.place_text, last.links["next"]) == ("276–300 of 300", "Page 12 of 12", None)


def test_above_the_cap_the_total_says_more_than_and_last_counts_from_the_end(app, tied, monkeypatch):
    monkeypatch.setattr(search, "COUNT_CAP", 50)
    page = search_contacts("s", "name", False, Window(), PER_PAGE)
    assert (page.total_kind, page.range_text, page.place_text) == ("more than", "1–25 of more than 50", "Page 1")
    last = search_contacts("s", "name", False, _window(page.links["last"]), PER_PAGE)
    assert (last.range_text, last.place_text, last.links["next"]) == ("the last 25 of more than 50", "Last page",
                                                                      None)
    before = search_contacts("s", "name", False, _window(last.links["previous"]), PER_PAGE)
    assert (before.range_text, before.place_text) == ("26–50 from the end, of more than 50", "Page 2 from the end")
    assert before.links["next"] == {"after": None, "before": None, "page": "last"}


def test_the_whole_list_above_the_cap_is_estimated_on_postgresql_and_capped_on_sqlite(app, tied, monkeypatch):
    monkeypatch.setattr(search, "COUNT_CAP", 50)
    if app.config["BACKEND"] == "postgresql":
        db.session.execute(text("ANALYZE contact"))  # what autovacuum does after a load
    page = search_contacts("", "name", False, Window(), PER_PAGE)
    expected = "1–25 of about 300" if app.config["BACKEND"] == "postgresql" else "1–25 of more than 50"
    assert page.range_text == expected


def test_a_page_whose_row_is_gone_starts_again_from_that_end(app, tied):
    expected = _expected("", "name", False)
    gone = expected[60]
    db.session.delete(db.session.get(Contact, gone))
    db.session.commit()
    expected.remove(gone)
    after = search_contacts("", "name", False, Window(after=gone, page=4), PER_PAGE)
    assert [c.id for c in after.items] == expected[:PER_PAGE] and after.page == 1
    before = search_contacts("", "name", False, Window(before=gone, page=3), PER_PAGE)
    assert [c.id for c in before.items] == expected[-PER_PAGE + 1:]  # the last page: 299 rows, 24 on it
    beyond = search_contacts("", "name", False, Window(after=expected[-1], page=13), PER_PAGE)
    assert [c.id for c in beyond.items] == expected[-24:] and beyond.links["next"] is None


@pytest.mark.parametrize(("args", "window"), [
    ({}, Window()),
    ({"page": "3"}, Window(page=3)),
    ({"page": "0"}, Window()),
    ({"page": "x"}, Window()),
    ({"page": "last"}, Window(page=None, from_end=1)),
    ({"page": "LAST-2"}, Window(page=None, from_end=3)),
    ({"page": "last-x"}, Window()),
    ({"after": "17", "page": "4"}, Window(after=17, page=4)),
    ({"after": "17"}, Window(after=17, page=None)),
    ({"before": "17", "page": "last-1"}, Window(before=17, page=None, from_end=2)),
    ({"after": "17", "before": "9"}, Window(after=17, page=None)),
    ({"after": "-5", "page": "2"}, Window(page=2)),
    ({"after": "99999999999"}, Window()),
])
def test_the_place_in_the_query_string_is_read_leniently(args, window):
    assert Window.from_args(args) == window


def _ids(html: str) -> list[int]:
    return [int(i) for i in ROW.findall(html)]


def _link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a class="btn btn-small" href="([^"]+)" hx-get="([^"]+)" hx-target="#contact-results" '
                      rf'hx-push-url="true" rel="{rel}">', html)
    if found is None:
        return None
    assert found.group(1) == found.group(2)  # the same URL with and without htmx
    return found.group(1).replace("&amp;", "&")


@pytest.mark.parametrize("htmx", [False, True])
def test_the_pager_links_walk_the_whole_list_in_the_browser_and_with_htmx(admin_client, tied, plan, htmx):
    headers = {"HX-Request": "true", "HX-Target": "contact-results"} if htmx else {}
    url, shown = "/contacts?q=s&sort=email&dir=desc", []
    while url:
        html = admin_client.get(url, headers=headers).get_data(as_text=True)
        assert ("<html" in html) is not htmx  # htmx gets the results partial, a plain request the page
        shown += _ids(html)
        url = _link(html, "next")
    assert shown == _expected("s", "email", True)
    last = re.search(r'href="([^"]+)"[^>]*>Last<', admin_client.get("/contacts?q=s&sort=email&dir=desc")
                     .get_data(as_text=True)).group(1).replace("&amp;", "&")
    back = []
    while last:
        html = admin_client.get(last, headers=headers).get_data(as_text=True)
        back = _ids(html) + back
        last = _link(html, "prev")
    assert back == shown
