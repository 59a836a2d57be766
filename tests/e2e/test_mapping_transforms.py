"""Mapping transforms on the provider page in Chromium: a row's transform edited in place, its preview against the
last sign-in attempt updated with the row, a bad pattern refused next to its field; axe on the page, and no
sideways scrolling at phone width with the two new columns."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from crm.extensions import db
from crm.identity_providers import mappings
from crm.identity_providers.services import find_provider
from crm.sso.attempts import record_attempt
from tests.e2e.conftest import PHONE, check_accessibility, no_horizontal_overflow, screenshot, sign_in
from tests.saml_signer import Spec, signed_response

pytestmark = pytest.mark.e2e


def _provider_with_an_attempt(live_server, make_provider) -> str:
    """Provider okta mapping "dept" to Department, and a signed sign-in attempt that sent "SALES-EMEA"."""
    slug = make_provider("okta")
    with live_server.app.app_context():
        provider = find_provider(slug)
        mappings.save_attribute_mapping(provider, None, "dept", "department", None)
        response = signed_response(Spec(slug=slug, base_url=live_server.url, name_id="ann@example.com",
                                        attributes={"dept": "SALES-EMEA"}))
        record_attempt(db.session.connection(), provider.id, response, "created", name_id="ann@example.com")
        db.session.commit()
        db.session.remove()
    return slug


def test_a_transform_is_edited_in_place_and_previewed(page: Page, live_server, make_provider):
    slug = _provider_with_an_attempt(live_server, make_provider)
    sign_in(page, "admin")
    page.goto(f"/designer/sso/{slug}")
    expect(page.locator("#mapping-preview-source")).to_contain_text("(ann@example.com)")
    row = page.locator("#mapping-rows > tr").first
    preview = row.locator("td.mapping-preview")
    expect(preview).to_have_text(re.compile(r"^\s*Department: SALES-EMEA →\s*SALES-EMEA\s*$"))

    row.get_by_role("link", name="Edit the row dept").click()
    expect(row).to_have_class(re.compile(r"\brow-editing\b"))
    transform = row.get_by_label("Transform")
    expect(transform).to_have_attribute("aria-describedby", "transform-help")
    transform.fill("part:-:1")
    row.get_by_role("button", name="Save").click()
    expect(row).not_to_have_class(re.compile(r"\brow-editing\b"))
    expect(row.locator("td").nth(4)).to_have_text("part:-:1")
    expect(preview).to_have_text(re.compile(r"^\s*Department: SALES-EMEA →\s*SALES\s*$"))
    check_accessibility(page, label="provider page (a row with a transform, previewed)")

    # A pattern that does not compile is refused next to its field; the saved transform stays. (The saved row must
    # have settled first: a click before htmx has taken over its new Edit link follows the plain link instead.)
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
    row.get_by_role("link", name="Edit the row dept").click()
    expect(row).to_have_class(re.compile(r"\brow-editing\b"))
    row.get_by_label("Transform").fill("regex:([A-Z]")
    row.get_by_role("button", name="Save").click()
    expect(row.locator(".error")).to_contain_text("The pattern is not a valid regular expression")
    expect(row.get_by_label("Transform")).to_have_attribute("aria-invalid", "true")
    check_accessibility(page, label="provider page (a refused transform)")
    page.reload()
    expect(page.locator("#mapping-rows > tr").first.locator("td").nth(4)).to_have_text("part:-:1")
    screenshot(page, "provider-mapping-transforms")


def test_the_mapping_table_fits_a_phone(page: Page, live_server, make_provider):
    slug = _provider_with_an_attempt(live_server, make_provider)
    page.set_viewport_size(PHONE)
    sign_in(page, "admin")
    page.goto(f"/designer/sso/{slug}")
    row = page.locator("#mapping-rows > tr").first
    row.get_by_role("link", name="Edit the row dept").click()
    box = row.get_by_label("Transform").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    sizes = no_horizontal_overflow(page)
    assert sizes["scrollWidth"] <= sizes["innerWidth"] + 1, sizes


def test_short_values_in_the_preview_are_never_broken_mid_word(page: Page, live_server, make_provider):
    """Entra's preset (eight rows, long claim URIs) at desktop width: a URI may break anywhere to fit its column, but
    a name like "Nina" moves to the next line whole instead of showing as "N" and "ina"."""
    from tests.sso.conftest import nina

    slug = make_provider("entra")
    with live_server.app.app_context():
        provider = find_provider(slug)
        mappings.apply_preset(provider, "entra")
        response = signed_response(Spec(slug=slug, base_url=live_server.url, name_id="nina.novak@example.com",
                                        attributes=nina()))
        record_attempt(db.session.connection(), provider.id, response, "created", name_id="nina.novak@example.com")
        db.session.commit()
        db.session.remove()
    sign_in(page, "admin")
    page.goto(f"/designer/sso/{slug}")
    expect(page.locator("#mapping-preview-source")).to_contain_text("(nina.novak@example.com)")
    values = page.locator("td.mapping-preview code").evaluate_all(
        "els => els.map(e => [e.textContent, e.getClientRects().length])")
    short = [(text, lines) for text, lines in values if len(text) <= 12]
    assert ("Nina", 1) in short and ("Novak", 1) in short, values
    assert all(lines == 1 for _text, lines in short), short
