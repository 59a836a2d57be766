"""Warnings before a provider's last signing certificate expires: the console's banner (30 and 7 days) for every
administrator, and `sso check` for monitoring. Certificates are made with the validity each case needs."""
from __future__ import annotations

import json

import pytest

from crm.extensions import db
from crm.identity_providers.certificates import parse_certificate
from crm.identity_providers.models import IdpCertificate
from tests import factories
from tests.conftest import login
from tests.designer.metadata_server import MetadataServer
from tests.designer.published_metadata import certificate, idp


def _provider_with(slug: str, *pems: str, **settings):
    """A provider whose signing certificates are exactly these (any validity: stored as a refresh would)."""
    provider = factories.provider(slug, **settings)
    for cert in list(provider.certificates):
        provider.certificates.remove(cert)
    db.session.flush()
    for pem in pems:
        info = parse_certificate(pem)
        provider.certificates.append(IdpCertificate(pem=info.pem, fingerprint_sha256=info.fingerprint_sha256,
                                                    subject=info.subject, not_before=info.not_before,
                                                    not_after=info.not_after))
    db.session.commit()
    return provider


def _banner(client) -> str | None:
    page = client.get("/contacts").get_data(as_text=True)
    start = page.find("Signing certificates run out")
    if start < 0:
        return None
    start = page.rfind('<div class="notice', 0, start)
    return page[start:page.find("</div>", start)]


def test_thirty_days_before_the_last_certificate_expires_every_administrator_is_warned(admin_client, app, runner):
    _provider_with("okta", certificate("okta-app", -300, 20), display_name="Okta")
    banner = _banner(admin_client)
    assert banner and 'role="status"' in banner and "notice-urgent" not in banner
    assert "The last signing certificate of Okta expires in 19 days" in banner
    assert "/designer/sso/okta#certificates" in banner
    result = runner.invoke(args=["sso", "check", "--json"])
    assert result.exit_code == 1
    [row] = json.loads(result.output)
    assert (row["slug"], row["level"], row["days_left"]) == ("okta", "30", 19)


def test_seven_days_before_the_banner_turns_urgent_and_an_expired_provider_is_named(admin_client, app, runner):
    _provider_with("okta", certificate("okta-app", -300, 5), display_name="Okta")
    _provider_with("adfs", certificate("adfs-old", -400, -2), display_name="AD FS")
    banner = _banner(admin_client)
    assert "notice-urgent" in banner and 'role="alert"' in banner
    assert "Every signing certificate of AD FS has expired" in banner and "Okta expires in 4 days" in banner
    result = runner.invoke(args=["sso", "check"])
    assert result.exit_code == 1
    assert [line.split("\t")[:2] for line in result.output.splitlines()] == [["adfs", "expired"], ["okta", "7"]]


def test_a_provider_holding_its_next_certificate_is_not_at_risk(admin_client, app, runner):
    _provider_with("okta", certificate("okta-app", -300, 5), certificate("okta-next", -1, 365))
    _provider_with("old", certificate("old-app", -300, 5), enabled=False)  # nobody signs in through it
    assert _banner(admin_client) is None
    result = runner.invoke(args=["sso", "check"])
    assert result.exit_code == 0 and "No provider's signing certificates run out within 30 days" in result.output


def test_only_administrators_see_the_banner(client, app):
    _provider_with("okta", certificate("okta-app", -300, 5))
    employee = factories.employee("emma@example.com")
    login(client, employee.username, factories.PASSWORD)
    page = client.get("/contacts")
    assert page.status_code == 200 and "Signing certificates run out" not in page.get_data(as_text=True)


def test_the_next_certificate_published_at_the_metadata_url_ends_the_risk(admin_client, app, runner):
    server = MetadataServer()
    try:
        ending, following = certificate("okta-app", -300, 10), certificate("okta-next", -1, 365)
        url = server.publish("/okta.xml", idp("okta", certificates=(ending, following)))
        _provider_with("okta", ending, metadata_url=url)
        banner = _banner(admin_client)
        assert "Its metadata URL does not publish a newer one yet" in banner
        assert runner.invoke(args=["sso", "check"]).exit_code == 1
        assert runner.invoke(args=["sso", "refresh"]).exit_code == 0
        assert _banner(admin_client) is None
        assert runner.invoke(args=["sso", "check", "--json"]).output.strip() == "[]"
    finally:
        server.close()


@pytest.mark.sqlite_only
def test_the_provider_page_shows_each_certificate_with_fingerprint_and_validity(admin_client, app):
    ending, following = certificate("okta-app", -300, 10), certificate("okta-next", -1, 365)
    _provider_with("okta", ending, following, certificate("okta-old", -400, -3))
    page = admin_client.get("/designer/sso/okta").get_data(as_text=True)
    for pem in (ending, following):
        assert parse_certificate(pem).fingerprint_sha256 in page
    assert page.count('class="cert"') == 3 and "Expired: never used to verify a sign-in" in page
    assert "This certificate expires within 30 days" in page
