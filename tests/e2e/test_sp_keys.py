"""Our own keys in a real browser: the SSO page lists them, and during a rollover says which providers fetched our
metadata since; the provider page switches request signing and required encryption (axe, phone width)."""
from __future__ import annotations

import urllib.request

import pytest
from playwright.sync_api import Page, expect

from crm.extensions import db
from crm.identity_providers.services import find_provider
from crm.sso import sp_keys
from tests.e2e.conftest import PHONE, check_accessibility, no_horizontal_overflow, sign_in

pytestmark = pytest.mark.e2e


def test_the_sso_page_shows_our_keys_and_who_fetched_the_new_metadata(page: Page, live_server, make_provider):
    make_provider("okta", display_name="Okta")
    make_provider("entra", display_name="Contoso Entra ID", cert_name="other-idp")
    sign_in(page, "admin")
    page.goto("/designer/sso")
    keys = page.locator("#sp-keys")
    expect(keys.get_by_role("heading", name="Our keys")).to_be_visible()
    expect(keys.locator("tbody tr")).to_have_count(1)
    expect(keys).to_contain_text("Active: signs and decrypts")
    with live_server.app.app_context():
        following = sp_keys.rotate()
        fingerprint = following.fingerprint
        db.session.commit()
        db.session.remove()
    urllib.request.urlopen(f"{live_server.url}/sso/okta/metadata", timeout=10).read()  # Okta polls our metadata
    page.reload()
    expect(keys.locator("tbody tr")).to_have_count(2)
    expect(keys).to_contain_text(fingerprint)
    rollover = keys.get_by_role("status")
    expect(rollover).to_contain_text("A key rollover is under way")
    expect(rollover.locator("li", has_text="Okta")).to_contain_text("fetched our metadata")
    expect(rollover.locator("li", has_text="Contoso Entra ID")).to_contain_text("never fetched our metadata")
    check_accessibility(page, label="SSO page during a key rollover")
    page.set_viewport_size(PHONE)
    assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth + 1"), \
        no_horizontal_overflow(page)


def test_the_provider_page_switches_signing_and_required_encryption(page: Page, live_server, make_provider):
    slug = make_provider("okta", display_name="Okta")
    sign_in(page, "admin")
    page.goto(f"/designer/sso/{slug}#settings")
    page.get_by_label("Sign authentication requests").check()
    page.get_by_label("Require encrypted assertions").check()
    check_accessibility(page, label="provider page with our keys' settings")
    page.get_by_role("button", name="Save").first.click()
    expect(page.get_by_label("Sign authentication requests")).to_be_checked()
    expect(page.get_by_label("Require encrypted assertions")).to_be_checked()
    with live_server.app.app_context():
        provider = find_provider(slug)
        assert (provider.sign_requests, provider.want_encrypted) == (True, True)
        db.session.remove()
