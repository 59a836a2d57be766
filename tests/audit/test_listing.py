"""The audit list at scale, in miniature: every filter's pages, walked by Next and by Previous, hold exactly the
events a plain filter finds, newest first, also when the caps and the walk budget are tiny and cut walks short."""
import itertools
from datetime import timedelta

import pytest

from crm.audit import listing
from crm.audit.listing import AuditList, Filters, events_page
from crm.audit.models import AuditEvent
from crm.audit.services import event_row, write_event
from crm.extensions import db
from crm.pagination import Window
from crm.timeutil import utcnow

PER_PAGE = 4
KINDS = [("provisioning", "sso", "entra", "unchanged"), ("provisioning", "sso", "okta", "denied"),
         ("provisioning", "sso", "entra", "rejected"), ("admin", "admin", None, None),
         ("config", "admin", "okta", None)]


@pytest.fixture
def events(app):
    """90 events over 90 hours, in the mix of a real trail, some sharing a time (the id breaks the tie)."""
    start = utcnow() - timedelta(days=5)
    conn = db.session.connection()
    for n, (category, actor, slug, outcome) in zip(range(90), itertools.cycle(KINDS)):
        who = f"user{n % 7}@example.com"
        row = event_row("test", f"event {n}", category=category, actor=(None, actor), idp_slug=slug, outcome=outcome,
                        target_label=who if category != "config" else slug, name_id=who if slug else None)
        write_event(conn, row | {"occurred_at": start + timedelta(hours=n - n % 3)})
    db.session.commit()
    return db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.occurred_at.desc(),
                                                             AuditEvent.id.desc())).all()


def _expected(events, **args):
    f = Filters.from_args(args)
    return [e.id for e in events if listing._matches(e, f)]


def _pages(args: dict, direction: str = "next"):
    """Every page from the first (or the last) by following its links, as a browser would."""
    window = Window() if direction == "next" else Window(page=None, from_end=1)
    shown = []
    while True:
        page = events_page(Filters.from_args(args), window, PER_PAGE)
        shown.append([e.id for e in page.items])
        assert len(shown) < 200
        link = page.links[direction]
        if link is None:  # Previous that reaches the start shows the first page in full: it may repeat a few
            ordered = shown if direction == "next" else shown[::-1]
            return list(dict.fromkeys(i for ids in ordered for i in ids)), page
        window = Window.from_args({k: str(v) for k, v in (args | link).items() if v is not None})


FILTERS = [{}, {"category": "admin"}, {"outcome": "denied"}, {"idp_slug": "okta"},
           {"idp_slug": "entra", "outcome": "rejected"}, {"user": "user3@example.com"}, {"user": "admin"},
           {"category": "admin", "outcome": "rejected"}, {"category": "config", "idp_slug": "okta"},
           {"user": "user2@example.com", "category": "provisioning"}, {"outcome": "nothing"}]


@pytest.mark.parametrize("args", FILTERS)
@pytest.mark.parametrize("cap, budget", [(10_000, 20_000), (3, 5)])
def test_every_filters_pages_hold_exactly_its_events_newest_first(events, monkeypatch, args, cap, budget):
    monkeypatch.setattr(listing, "COUNT_CAP", cap)
    monkeypatch.setattr(listing, "WALK_BUDGET", budget)
    expected = _expected(events, **args)
    forward, first_page = _pages(args)
    assert forward == expected
    backward, _ = _pages(args, "previous")
    assert backward == expected
    if cap == 10_000:
        assert first_page.total_text == f"{len(expected):,}" if len(expected) < 100 else True


def test_day_range_and_reference(events, admin_client):
    day = events[10].occurred_at.strftime("%Y-%m-%d")
    args = {"since": day, "until": day, "outcome": "denied"}
    assert _pages(args)[0] == _expected(events, **args) != []
    ref = events[3].reference
    assert [e.id for e in events_page(Filters.from_args({"reference": ref.lower()}), Window(), 25).items] == [
        events[3].id]
    assert admin_client.get("/audit", query_string={"until": "9999-12-31"}).status_code == 400


def test_the_smallest_range_drives_and_provider_with_outcome_has_its_own(events):
    both = AuditList.of(Filters.from_args({"idp_slug": "okta", "outcome": "denied", "category": "provisioning"}), 4)
    assert both.driver.covers == {"idp_slug", "outcome"} and both.residual
    admin = AuditList.of(Filters.from_args({"category": "admin", "idp_slug": "okta"}), 4)
    assert admin.driver.covers == {"category"} or admin.driver_rows == 0


def test_the_page_shows_totals_and_pages_by_keyset(admin_client, events, app):
    app.config["PAGE_SIZE"] = PER_PAGE
    html = admin_client.get("/audit", query_string={"outcome": "denied"}).get_data(as_text=True)
    assert f"1–4 of {len(_expected(events, outcome='denied'))} events" in html and "after=" in html
    providers = admin_client.get("/audit").get_data(as_text=True)
    assert '<option value="entra"' in providers and '<option value="okta"' in providers
