"""Signing certificates over time, through the real ACS with real signed responses: a rolled key picked up from the
metadata URL on its own, every published certificate verifying, an expired one never used."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.identity_providers.certificates import parse_certificate
from crm.identity_providers.config import config_of
from crm.identity_providers.models import IdpCertificate
from crm.identity_providers.services import add_certificate
from crm.sso.refresh import refresh_due
from crm.sso.report import build_report
from tests.designer.metadata_server import MetadataServer
from tests.designer.published_metadata import certificate, idp
from tests.saml_keys import cert_body, key_pair
from tests.saml_signer import Spec, build_response, encode
from tests.sso.conftest import nina


@pytest.fixture
def server():
    """A local server publishing the IdP's metadata."""
    served = MetadataServer()
    yield served
    served.close()


def _logout(client) -> None:
    from tests.conftest import csrf_token

    client.post("/logout", data={"csrf_token": csrf_token(client, "/contacts")})


def _last_refusal() -> AuditEvent:
    db.session.rollback()
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sso.rejected")
                              .order_by(AuditEvent.id.desc())).first()


def test_a_rolled_certificate_is_picked_up_on_its_own_and_keeps_signing_users_in(entra, visitor, client, server):
    assert visitor.sign_in(attributes=nina()).status_code == 302
    _logout(client)
    # The IdP rolls its key and publishes only the new certificate: the old configuration refuses the new signature.
    entra.metadata_url = server.publish("/federationmetadata.xml", idp(certificates=(key_pair("rolled-idp")[1],)))
    db.session.commit()
    assert visitor.sign_in(attributes=nina(), key_name="rolled-idp").status_code == 400
    [result] = refresh_due()  # what a page's refresh thread runs once the last refresh is 24 hours old (never yet)
    assert result.ok and result.changes["certificates"]["removed"]
    assert visitor.sign_in(attributes=nina(), key_name="rolled-idp").status_code == 302
    _logout(client)
    assert visitor.sign_in(attributes=nina()).status_code == 400  # the old key is no longer listed
    assert "no configured certificate verifies" in _last_refusal().reason


def test_a_response_signed_with_the_fourth_certificate_is_accepted(entra, visitor):
    for n in range(3):
        add_certificate(entra, parse_certificate(key_pair(f"entra-common-{n}")[1]))
    db.session.commit()
    assert len(entra.certificates) == 4
    assert visitor.sign_in(attributes=nina(), key_name="entra-common-2").status_code == 302


def test_an_expired_certificate_is_never_used(entra, visitor, admin_client):
    # The same key as the signer's "old-idp", in a certificate that ended yesterday: it would verify, were it used.
    expired = parse_certificate(certificate("old-idp", -400, -1))
    entra.certificates.append(IdpCertificate(pem=expired.pem, fingerprint_sha256=expired.fingerprint_sha256,
                                             subject=expired.subject, not_before=expired.not_before,
                                             not_after=expired.not_after))
    db.session.commit()
    response = visitor.sign_in(attributes=nina(), key_name="old-idp")
    assert response.status_code == 400 and "could not be verified" in response.get_data(as_text=True)
    assert "no configured certificate verifies" in _last_refusal().reason
    page = admin_client.get("/designer/sso/entra").get_data(as_text=True)
    assert "Expired: never used to verify a sign-in" in page and expired.fingerprint_sha256 in page


def test_the_report_names_a_signature_made_with_an_expired_certificate(entra, app):
    expired = parse_certificate(certificate("test-idp", -400, -1))  # the configured key's certificate, run out
    for cert in list(entra.certificates):
        entra.certificates.remove(cert)
    db.session.flush()
    entra.certificates.append(IdpCertificate(pem=expired.pem, fingerprint_sha256=expired.fingerprint_sha256,
                                             subject=expired.subject, not_before=expired.not_before,
                                             not_after=expired.not_after))
    db.session.commit()
    # The signer's KeyInfo carries its own copy of the key's certificate; put the expired one there, as an IdP
    # still signing with its old certificate does (KeyInfo is outside what the signature covers).
    response = build_response(Spec(attributes=nina()))
    response.find(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate").text = cert_body(expired.pem)
    report = build_report(config_of(entra), encode(response))
    signature = next(c for c in report["checks"] if c["passed"] is False)
    assert "expired on" in signature["detail"] and "never used" in signature["detail"]
    assert "refresh the provider's metadata" in signature["hint"]


def test_signing_in_costs_one_verification_with_the_certificate_the_response_names(entra, visitor, monkeypatch):
    for n in range(3):
        add_certificate(entra, parse_certificate(key_pair(f"entra-common-{n}")[1]))
    db.session.commit()
    from crm.sso import checks

    tried = []
    real = checks._verifies
    monkeypatch.setattr(checks, "_verifies", lambda element, cert: tried.append(cert.subject) or real(element, cert))
    assert visitor.sign_in(attributes=nina(), key_name="entra-common-1").status_code == 302
    assert tried == ["O=Test IdP,CN=entra-common-1"]  # (the signer's KeyInfo names its certificate, as IdPs do)
