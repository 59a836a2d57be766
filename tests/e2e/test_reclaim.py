"""Reclaim seats in a real browser: Licenses → Reclaim seats → the preview → confirm, at desktop and phone width,
with axe-core on the preview."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from crm.extensions import db
from crm.licensing.services import find_package, take_seat
from crm.timeutil import utcnow
from crm.users.models import UserIdentity
from tests import factories
from tests.e2e.conftest import PHONE, check_accessibility, no_horizontal_overflow, screenshot, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def dormant_people(live_server, make_provider):
    """Provider okta reclaims after 30 days; dora last signed in 45 days ago, rita 3 days ago; both hold a seat."""
    make_provider("okta", dormant_days=30)
    with live_server.app.app_context():
        from crm.identity_providers.services import find_provider

        okta = find_provider("okta")
        for username, days in (("dora.dormant@example.com", 45), ("rita.recent@example.com", 3)):
            user = factories.user(username, password=None)
            user.created_at = user.last_login_at = utcnow() - timedelta(days=days)
            db.session.add(UserIdentity(user_id=user.id, provider_id=okta.id, name_id=username))
            take_seat(user, find_package("Sales Creatio"), "sso")
        db.session.commit()
        db.session.remove()


def test_reclaim_seats_from_the_licenses_page_with_a_preview_first(page: Page, live_server, dormant_people):
    sign_in(page, "admin")
    page.goto("/licenses")
    page.get_by_role("link", name="Reclaim seats").click()
    expect(page).to_have_url(re.compile(r"/licenses/reclaim$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Reclaim seats")
    expect(page.get_by_text("Okta: after 30 days without sign-in")).to_be_visible()
    table = page.locator("section[aria-labelledby=reclaim-who] table")
    expect(table.locator("tbody tr")).to_have_count(1)
    row = table.locator("tbody tr").first
    expect(row).to_contain_text("dora.dormant@example.com")
    expect(row).to_contain_text("Sales Creatio")
    expect(page.get_by_text("Seats released: Sales Creatio 1.")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "reclaim-preview")

    page.get_by_role("button", name="Deactivate 1 user and release their seats").click()
    expect(page).to_have_url(re.compile(r"/licenses$"))
    expect(page.get_by_role("status")).to_have_text("Deactivated 1 dormant user; 1 seat released.")

    page.goto("/users?active=no")
    dora = page.locator("#user-results tr", has_text="dora.dormant@example.com")
    expect(dora).to_contain_text("dormant: no sign-in, seats reclaimed")
    expect(dora).to_contain_text("JIT")
    page.goto("/licenses/reclaim")
    expect(page.get_by_text("Nobody is dormant")).to_be_visible()


def test_the_preview_works_at_phone_width(page: Page, live_server, dormant_people):
    page.set_viewport_size(PHONE)
    sign_in(page, "admin")
    for path in ("/licenses", "/licenses/reclaim", "/users"):
        page.goto(path)
        sizes = no_horizontal_overflow(page)
        assert sizes["scrollWidth"] <= sizes["innerWidth"], f"{path} scrolls sideways at 390px: {sizes}"
    page.goto("/licenses/reclaim")
    button = page.get_by_role("button", name="Deactivate 1 user and release their seats")
    button.scroll_into_view_if_needed()
    expect(button).to_be_in_viewport()
    row = page.locator("section[aria-labelledby=reclaim-who] tbody tr").first
    expect(row).to_contain_text("Sales Creatio")  # who, when and which seats, without scrolling sideways
    check_accessibility(page)
    screenshot(page, "reclaim-preview-narrow")
