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
from tests.sso.conftest import Browser, nina


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
    rolled = parse_certificate(key_pair("rolled-idp")[1]).fingerprint_sha256
    assert f"the response carries a certificate this provider does not list: {rolled}" in _last_refusal().reason
    [result] = refresh_due()  # what a page's refresh thread runs once the last refresh is 24 hours old (never yet)
    assert result.ok and result.changes["certificates"]["removed"]
    assert visitor.sign_in(attributes=nina(), key_name="rolled-idp").status_code == 302
    _logout(client)
    assert visitor.sign_in(attributes=nina()).status_code == 400  # the old key is no longer listed
    # (that refusal is counted on the first one's audit event, the same client's this minute): the report says why
    old = parse_certificate(key_pair("test-idp")[1]).fingerprint_sha256
    signature = _signature_check(entra, build_response(Spec(attributes=nina())))
    assert f"(SHA-256 {old}), which this provider no longer lists" in signature["detail"]
    assert f"by a refresh of the provider's metadata ({result.reference})" in signature["detail"]
    assert signature["hint"].startswith("The IdP still signs with its old key. The IdP's metadata no longer publishes")


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
    # The audit trail says why, with the certificate and its date (the ACS runs the report's check).
    reason = _last_refusal().reason
    assert reason == (f"signature: signed with an expired certificate ({expired.fingerprint_sha256}, expired on "
                      f"{expired.not_after:%Y-%m-%d})")
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
    from crm.sso import signatures as checks

    tried = []
    real = checks._verifies
    monkeypatch.setattr(checks, "_verifies", lambda element, cert: tried.append(cert.subject) or real(element, cert))
    assert visitor.sign_in(attributes=nina(), key_name="entra-common-1").status_code == 302
    assert tried == ["O=Test IdP,CN=entra-common-1"]  # (the signer's KeyInfo names its certificate, as IdPs do)


def _signature_check(entra, response) -> dict:
    report = build_report(config_of(entra), encode(response))
    (signature,) = [c for c in report["checks"] if c["key"] == "signature"]
    assert signature["passed"] is False and report["ok"] is False
    return signature


def test_a_certificate_removed_by_hand_is_named_as_no_longer_listed_in_the_report_and_the_refusal(
        entra, app, admin_client):
    add_certificate(entra, parse_certificate(key_pair("rolled-idp")[1]))
    db.session.commit()
    old = next(c for c in entra.certificates if "test-idp" in c.subject)
    from tests.conftest import csrf_token

    token = csrf_token(admin_client, "/designer/sso/entra")
    assert admin_client.post(f"/designer/sso/entra/certificates/{old.id}/delete",
                             data={"csrf_token": token}).status_code in (200, 302, 303)
    db.session.expire_all()
    assert [c.subject for c in entra.certificates] == ["O=Test IdP,CN=rolled-idp"]
    fingerprint = parse_certificate(key_pair("test-idp")[1]).fingerprint_sha256
    signature = _signature_check(entra, build_response(Spec(attributes=nina())))
    assert "which this provider no longer lists: removed on" in signature["detail"]
    assert fingerprint in signature["detail"] and "by an administrator" in signature["detail"]
    assert signature["hint"].startswith("The IdP still signs with its old key. It was removed here by hand")
    visitor = Browser(app.test_client())
    assert visitor.sign_in(attributes=nina()).status_code == 400 and visitor.signed_in_as() is None
    assert f"no longer lists: {fingerprint}" in _last_refusal().reason


def test_a_certificate_replaced_by_sso_set_is_named_as_no_longer_listed(entra, runner, tmp_path):
    (tmp_path / "new.pem").write_text(key_pair("rolled-idp")[1])
    result = runner.invoke(args=["sso", "set", "entra", "--certificate-file", str(tmp_path / "new.pem")])
    assert result.exit_code == 0, result.output
    removal = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sso.certificate_remove")).one()
    fingerprint = parse_certificate(key_pair("test-idp")[1]).fingerprint_sha256
    assert fingerprint in removal.changes["certificate"]["before"]  # the replacement is audited as a removal
    db.session.expire_all()
    signature = _signature_check(entra, build_response(Spec(attributes=nina())))
    assert "which this provider no longer lists: removed on" in signature["detail"] and removal.reference in \
        signature["detail"]


def test_a_certificate_the_provider_never_had_is_named_with_its_fingerprint(entra, visitor):
    stranger = parse_certificate(key_pair("rolled-idp")[1])
    signature = _signature_check(entra, build_response(Spec(attributes=nina(), key_name="rolled-idp")))
    assert f"(SHA-256 {stranger.fingerprint_sha256}" in signature["detail"]
    assert "which this provider does not list" in signature["detail"] and "no longer" not in signature["detail"]
    assert "update the metadata" in signature["hint"] and "sso refresh entra" in signature["hint"]
    assert visitor.sign_in(attributes=nina(), key_name="rolled-idp").status_code == 400
    assert f"does not list: {stranger.fingerprint_sha256}" in _last_refusal().reason


def test_a_certificate_the_provider_never_had_is_never_handed_to_openssl(entra, monkeypatch):
    """Anyone can put a certificate in a response, with a key built to make verifying it slow (a public exponent of
    thousands of bits): only the provider's own certificates, current or once listed, are ever tried."""
    from crm.sso import signatures as checks

    tried, verifies = [], checks._verifies
    monkeypatch.setattr(checks, "_verifies", lambda element, cert: tried.append(cert.fingerprint_sha256)
                        or verifies(element, cert))
    stranger = parse_certificate(key_pair("rolled-idp")[1])
    signature = _signature_check(entra, build_response(Spec(attributes=nina(), key_name="rolled-idp")))
    assert "not tried" in signature["detail"]
    assert tried and stranger.fingerprint_sha256 not in tried
    assert set(tried) <= {c.fingerprint_sha256 for c in entra.certificates}


def test_a_keyinfo_certificate_that_did_not_make_the_signature_is_a_plain_bad_signature(entra, visitor):
    # An attacker signs with their own key and puts a certificate the provider once had in KeyInfo: the names
    # above are given only when that certificate's key verifies the signature.
    add_certificate(entra, parse_certificate(key_pair("rolled-idp")[1]))
    db.session.commit()
    old = next(c for c in entra.certificates if "test-idp" in c.subject)
    from crm.identity_providers.services import remove_certificate

    remove_certificate(entra, old)
    db.session.commit()
    response = build_response(Spec(attributes=nina(), key_name="attacker"))
    response.find(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate").text = cert_body(key_pair("test-idp")[1])
    signature = _signature_check(entra, response)
    assert signature["detail"] == "No configured certificate verifies this signature."
    # And a listed certificate's signature over changed content is a plain bad one too (not "expired", not "unlisted").
    tampered = build_response(Spec(attributes=nina(), key_name="rolled-idp"))
    tampered.find(".//{urn:oasis:names:tc:SAML:2.0:assertion}NameID").text = "mallory@example.com"
    assert _signature_check(entra, tampered)["detail"] == "No configured certificate verifies this signature."
