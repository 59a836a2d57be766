"""SSO at a glance and "Link an existing account by" in a real browser: the charts of the Single Sign On
configuration page and the provider page are drawn without JavaScript, each with its table, pass axe and fit a
phone; the linking setting is chosen on the provider page."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import insert

from crm.audit.models import AuditEvent
from crm.audit.services import event_row
from crm.auth.models import SessionPolicy
from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from tests.e2e.conftest import PHONE, check_accessibility, no_horizontal_overflow, screenshot, sign_in

pytestmark = pytest.mark.e2e


def _activity(live_server, slug: str) -> None:
    """Two sign-ins today, a refused one yesterday and a refusal repeated 4 times three days ago."""
    now = datetime.utcnow().replace(hour=9, minute=0, second=0, microsecond=0)
    rows = [(0, "sso.sign_in", "created", None, 1), (0, "sso.sign_in", "unchanged", None, 1),
            (1, "sso.sign_in", "denied", "jit_off", 1), (3, "sso.rejected", "rejected", "signature", 4)]
    with live_server.app.app_context():
        for days_ago, action, outcome, cause, repeats in rows:
            row = event_row(action, "x", category="provisioning", actor=(None, "sso"), idp_slug=slug,
                            outcome=outcome, details={"cause": cause} if cause else {})
            db.session.execute(insert(AuditEvent.__table__).values(
                row | {"occurred_at": now - timedelta(days=days_ago), "repeat_count": repeats}))
        db.session.commit()
        db.session.remove()
    # The live app outlives each test's data; past days are counted once per process and day (activity.py).
    live_server.app.extensions.pop("sso_activity", None)


def _fits(page: Page, what: str) -> None:
    sizes = no_horizontal_overflow(page)
    assert sizes["scrollWidth"] <= sizes["innerWidth"] + 1, f"{what} scrolls sideways at 390px: {sizes}"


def test_sign_ins_at_a_glance_with_their_table(page: Page, live_server, make_provider, screens_dir):
    slug = make_provider("okta", display_name="Okta Workforce")
    _activity(live_server, slug)
    sign_in(page, "admin")
    page.goto("/designer/sso")
    chart = page.get_by_role("figure", name="Okta Workforce: 2 sign-ins and 5 refusals in the last 30 days")
    expect(chart).to_be_visible()
    expect(chart.get_by_role("img", name="Sign-ins and refusals per day through Okta Workforce, last 30 days "
                                         "(the table below lists them)")).to_be_visible()
    expect(chart).to_contain_text("Top refusal causes: signature 4, jit_off 1")
    table = chart.get_by_role("table")
    expect(table).to_be_hidden()
    chart.get_by_text("Per day as a table").click()
    today = datetime.utcnow().date().isoformat()
    expect(table.get_by_role("row", name=today)).to_have_text(f"{today}20")
    check_accessibility(page, label="Single Sign On configuration with its charts")
    page.set_viewport_size(PHONE)
    expect(chart.get_by_role("img")).to_be_visible()
    _fits(page, "the Single Sign On configuration page")
    screenshot(page, "sso-at-a-glance", screens_dir)


def test_the_charts_need_no_javascript(live_server, make_provider, new_context, console_errors):
    slug = make_provider("okta", display_name="Okta Workforce")
    _activity(live_server, slug)
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    console_errors.watch(page)
    sign_in(page, "admin")
    page.goto("/designer/sso")
    chart = page.get_by_role("figure", name="Okta Workforce: 2 sign-ins and 5 refusals in the last 30 days")
    expect(chart.locator("svg rect.bar-refused")).to_have_count(30)
    chart.get_by_text("Per day as a table").click()  # <details> opens without scripts
    expect(chart.get_by_role("table")).to_be_visible()
    page.goto(f"/designer/sso/{slug}")
    timeline = page.get_by_role("figure", name="Validity of the signing certificates")
    expect(timeline.locator("svg rect.bar-valid")).to_have_count(1)


def test_certificate_timeline_and_link_by_on_the_provider_page(page: Page, live_server, make_provider, screens_dir):
    slug = make_provider("okta")
    sign_in(page, "admin")
    page.goto(f"/designer/sso/{slug}")
    timeline = page.get_by_role("figure", name="Validity of the signing certificates")
    expect(timeline.get_by_role("img")).to_be_visible()
    timeline.get_by_text("Certificates as a table").click()
    expect(timeline.get_by_role("table").get_by_role("cell", name="Valid", exact=True)).to_be_visible()
    link_by = page.get_by_label("Link an existing account by")
    expect(link_by).to_have_value("username")
    link_by.select_option("email")
    page.get_by_role("button", name="Save settings").click()
    link_by = page.get_by_label("Link an existing account by")
    expect(link_by).to_have_attribute("aria-invalid", "true")
    expect(link_by).to_have_accessible_description(re.compile(
        r"Linking by email needs the provider's email domains: only emails in those domains are linked\. Enter the "
        r"email domains first, or link by username or never\.$"))
    check_accessibility(page, label="provider page with a refused link setting")
    page.get_by_label("Email domains").fill("example.com")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_have_text("Settings saved.")
    expect(page.get_by_label("Link an existing account by")).to_have_value("email")
    with live_server.app.app_context():
        assert db.session.scalar(db.select(IdentityProvider.link_by)) == "email"
        db.session.remove()
    page.set_viewport_size(PHONE)
    _fits(page, "the provider page")
    screenshot(page, "sso-provider-timeline", screens_dir)


def test_the_consoles_idle_timeout_is_set_on_the_sso_page(page: Page, live_server, screens_dir):
    sign_in(page, "admin")
    page.goto("/designer/sso")
    sessions = page.get_by_role("region", name="Sessions")
    minutes = sessions.get_by_label("Sign users out after this many minutes unused")
    minutes.fill("2")
    sessions.get_by_role("button", name="Save").click()
    expect(page.get_by_role("region", name="Sessions")).to_contain_text("from 5 to 1440")
    expect(minutes).to_have_attribute("aria-invalid", "true")
    check_accessibility(page, label="Single Sign On configuration with a refused idle timeout")
    minutes.fill("45")
    sessions.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Sessions now end after 45 minutes unused.")).to_be_visible()
    expect(minutes).to_have_value("45")
    page.set_viewport_size(PHONE)
    _fits(page, "the Sessions card")
    screenshot(page, "sso-sessions", screens_dir)
    with live_server.app.app_context():  # the live server is shared: leave the server's default for the next test
        db.session.execute(db.delete(SessionPolicy))
        db.session.commit()
        db.session.remove()
