"""pysaml2 rolls its signing key and a provider added from its metadata URL follows on its own: pysaml2 publishes its
own metadata (saml2.metadata), first with its one key, then the new key beside the old (the rollover period), then
the new one only; the automatic refresh (a page served after the interval passed, never a command) picks each up;
pysaml2's responses signed with the new key sign users in, and one still signed with the removed key is refused and
named. Two pysaml2 processes in all: one makes the metadata documents, one the responses."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.identity_providers.certificates import parse_certificate
from crm.identity_providers.config import provider_config
from crm.identity_providers.models import IdentityProvider
from crm.sso.report import build_report
from tests.designer.metadata_server import MetadataServer
from tests.pysaml2_idp import pysaml2_jobs
from tests.saml_keys import key_pair
from tests.sso.conftest import Browser

IDP = "https://pysaml2.example.org/idp"
OLD, NEW = key_pair("pysaml2-2026"), key_pair("pysaml2-2027")  # (key PEM, certificate PEM)
EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"


@pytest.fixture
def server():
    """Where pysaml2's metadata is published (http on loopback: allowed outside production)."""
    served = MetadataServer()
    yield served
    served.close()


def _metadata(signing: tuple[str, str], *also: tuple[str, str]) -> dict:
    return {"mode": "metadata", "idp_entity_id": IDP, "idp_key_pem": signing[0], "idp_cert_pem": signing[1],
            "also_published": [cert for _, cert in also]}


def _response(signing: tuple[str, str], sp_metadata: str, request_id: str, who: str) -> dict:
    return {"mode": "response", "idp_entity_id": IDP, "sp_metadata": sp_metadata,
            "sp_entity_id": "http://localhost/sso/pysaml2/metadata", "acs": "http://localhost/sso/pysaml2/acs",
            "in_response_to": request_id, "name_id": f"{who}@example.com", "attributes": {EMAIL: f"{who}@example.com"},
            "idp_key_pem": signing[0], "idp_cert_pem": signing[1], "encrypt": False}


def _fingerprints() -> set[str]:
    db.session.expire_all()
    provider = db.session.scalar(select(IdentityProvider).where(IdentityProvider.slug == "pysaml2"))
    return {c.fingerprint_sha256 for c in provider.certificates}


def _a_day_passes_and_a_page_is_served(app) -> None:
    """What the automatic refresh waits for: the last refresh 25 hours old (the interval is 24), then any page after
    the check period; its refresh thread is waited for."""
    db.session.expire_all()
    provider = db.session.scalar(select(IdentityProvider).where(IdentityProvider.slug == "pysaml2"))
    day_ago = {"last_refreshed": provider.last_refreshed - timedelta(hours=25),
               "refresh_claimed_at": provider.refresh_claimed_at - timedelta(hours=25)}
    db.session.execute(update(IdentityProvider.__table__).where(IdentityProvider.id == provider.id).values(day_ago))
    db.session.commit()
    app.config["METADATA_CHECK_SECONDS"] = 0
    schedule = app.extensions["metadata_refresh"]
    schedule.next_check = None
    assert app.test_client().get("/login").status_code < 400
    schedule.thread.join(20)
    assert not schedule.thread.is_alive()


def test_pysaml2_rolls_its_key_and_the_metadata_url_keeps_signing_users_in(app, client, runner, server):
    old_fp, new_fp = (parse_certificate(cert).fingerprint_sha256 for _, cert in (OLD, NEW))
    alone, rollover, rolled = pysaml2_jobs([_metadata(OLD), _metadata(NEW, OLD), _metadata(NEW)])
    assert f'entityID="{IDP}"' in rollover and rollover.count('use="signing"') == 2  # pysaml2's own document
    url = server.publish("/idp/metadata.xml", alone)
    added = runner.invoke(args=["sso", "add-idp", "pysaml2", "--metadata-url", url, "--jit"])
    assert added.exit_code == 0, added.output
    assert _fingerprints() == {old_fp}
    browsers = [Browser(app.test_client(), "pysaml2") for _ in range(4)]
    request_ids = [browser.start() for browser in browsers]
    sp_metadata = client.get("/sso/pysaml2/metadata").get_data(as_text=True)
    responses = pysaml2_jobs([_response(key, sp_metadata, request_id, who) for key, request_id, who in zip(
        (OLD, NEW, NEW, OLD), request_ids, ("ann", "ben", "cid", "dan"), strict=True)])

    # Before the rollover pysaml2 signs with its one key.
    assert browsers[0].post(responses[0]).status_code == 302 and browsers[0].signed_in_as() is not None

    # pysaml2 publishes its new key beside the old one and switches to it: a day later a page refreshes the provider.
    server.publish("/idp/metadata.xml", rollover)
    _a_day_passes_and_a_page_is_served(app)
    assert _fingerprints() == {old_fp, new_fp}
    assert browsers[1].post(responses[1]).status_code == 302 and browsers[1].signed_in_as() is not None

    # The rollover ends: only the new key is published, and the next automatic refresh drops the old one.
    server.publish("/idp/metadata.xml", rolled)
    _a_day_passes_and_a_page_is_served(app)
    assert _fingerprints() == {new_fp}
    refresh = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sso.metadata_refresh")
                                 .order_by(AuditEvent.id.desc())).first()
    assert refresh.details["trigger"] == "automatic" and old_fp in refresh.changes["certificates"]["removed"][0]
    assert browsers[2].post(responses[2]).status_code == 302 and browsers[2].signed_in_as() is not None
    assert server.requests == ["/idp/metadata.xml"] * 3  # added, then two automatic refreshes; no sign-in fetched

    # A response pysaml2 still signs with the removed key is refused, and named: the ACS's reason and the report.
    assert browsers[3].post(responses[3]).status_code == 400 and browsers[3].signed_in_as() is None
    refusal = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sso.rejected")).one()
    assert f"signed with a certificate this provider no longer lists: {old_fp}" in refusal.reason
    report = build_report(provider_config("pysaml2"), responses[3], request_ids[3], used=True)
    (signature,) = [c for c in report["checks"] if c["key"] == "signature"]
    assert signature["passed"] is False and f"(SHA-256 {old_fp}), which this provider no longer lists" in \
        signature["detail"]
    assert f"by a refresh of the provider's metadata ({refresh.reference})" in signature["detail"]
    assert signature["hint"].startswith("The IdP still signs with its old key.")
