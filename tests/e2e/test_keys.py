"""Keys over time in a real browser: the banner before a provider's last certificate expires, and Refresh now
picking up the IdP's next certificate from its metadata URL (axe on both pages, phone width)."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from crm.extensions import db
from crm.identity_providers.certificates import parse_certificate
from crm.identity_providers.models import IdpCertificate
from crm.identity_providers.services import find_provider
from tests.designer.metadata_server import MetadataServer
from tests.designer.published_metadata import certificate, idp
from tests.e2e.conftest import PHONE, check_accessibility, no_horizontal_overflow, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def metadata_server():
    """A local server publishing the IdP's metadata."""
    served = MetadataServer()
    yield served
    served.close()


def _ending_provider(live_server, make_provider, url: str, pem: str) -> str:
    """Provider "okta" whose only signing certificate is `pem`, refreshed from `url`."""
    slug = make_provider("okta", display_name="Okta", metadata_url=url)
    with live_server.app.app_context():
        provider = find_provider(slug)
        for cert in list(provider.certificates):
            provider.certificates.remove(cert)
        db.session.flush()
        info = parse_certificate(pem)
        provider.certificates.append(IdpCertificate(pem=info.pem, fingerprint_sha256=info.fingerprint_sha256,
                                                    subject=info.subject, not_before=info.not_before,
                                                    not_after=info.not_after))
        db.session.commit()
        db.session.remove()
    return slug


def test_the_banner_warns_and_refresh_now_picks_up_the_next_certificate(page: Page, live_server, make_provider,
                                                                         metadata_server):
    ending, following = certificate("okta-app", -300, 5), certificate("okta-next", -1, 365)
    url = metadata_server.publish("/okta.xml", idp("okta", certificates=(ending,)))
    slug = _ending_provider(live_server, make_provider, url, ending)
    sign_in(page, "admin")
    banner = page.get_by_role("alert").filter(has_text="Signing certificates run out")
    expect(banner).to_contain_text("The last signing certificate of Okta expires in 4 days")
    check_accessibility(page, label="contacts with the certificate banner")
    banner.get_by_role("link", name="Open Okta").click()
    expect(page.get_by_role("heading", name="Signing certificates")).to_be_visible()
    expect(page.locator("#metadata-refresh")).to_contain_text(url)
    check_accessibility(page, label="provider page with a metadata URL")

    metadata_server.publish("/okta.xml", idp("okta", certificates=(ending, following)))  # the IdP's next key
    page.set_viewport_size(PHONE)  # what changed (long fingerprints) must wrap on a phone
    page.get_by_role("button", name="Refresh now").click()
    expect(page.locator(".flash-success")).to_contain_text("certificate added: O=Test IdP,CN=okta-next")
    expect(page.locator("li.cert")).to_have_count(2)
    expect(page.get_by_text("Signing certificates run out")).to_have_count(0)
    assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth + 1"), \
        no_horizontal_overflow(page)
    assert slug == "okta"


def test_a_failed_refresh_says_why_on_the_page(page: Page, live_server, make_provider, metadata_server):
    slug = make_provider("okta", metadata_url=metadata_server.publish("/okta.xml", "<EntityDescriptor"))
    sign_in(page, "admin")
    page.goto(f"/designer/sso/{slug}#certificates")
    page.get_by_role("button", name="Refresh now").click()
    expect(page.get_by_role("alert").filter(has_text="Refresh failed")).to_contain_text("not well-formed XML")
    expect(page.locator("#refresh-error")).to_contain_text("The last refresh failed and changed nothing")
    check_accessibility(page, label="provider page after a failed refresh")
