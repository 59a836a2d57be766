"""Encrypted assertions: signed by the test IdP, then encrypted with xmlsec for our SP key (AES-GCM or AES-CBC
content, RSA-OAEP key transport), posted to the real ACS; a key rollover loses no sign-in."""
import base64
import json

import pytest

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.identity_providers.services import find_provider, provider_values, save_provider
from crm.sso import sp_keys
from tests.saml_signer import Spec, signed_response
from tests.sso.conftest import Browser, nina


def _active_cert() -> str:
    return sp_keys.ensure_active_key().certificate_pem


def _signed_in(response, visitor) -> bool:
    return response.status_code == 302 and visitor.signed_in_as() is not None


def _refusal() -> AuditEvent:
    return db.session.scalars(db.select(AuditEvent).where(AuditEvent.outcome == "rejected")
                              .order_by(AuditEvent.id.desc())).first()


def _set(slug: str, **changes) -> None:
    provider = find_provider(slug)
    save_provider(provider, provider_values(provider) | changes)
    db.session.commit()


@pytest.mark.parametrize("content", ["aes256-gcm", "aes128-gcm", "aes128-cbc", "aes256-cbc"])
def test_a_signed_then_encrypted_assertion_signs_in(visitor, entra, content):
    response = visitor.sign_in(attributes=nina(), encrypt_for=_active_cert(), content_encryption=content)
    assert _signed_in(response, visitor), response.get_data(as_text=True)[:500]


def test_the_encrypted_key_beside_the_data_and_named_by_key_name_signs_in(visitor, entra):
    response = visitor.sign_in(attributes=nina(), encrypt_for=_active_cert(), encrypted_key_beside=True,
                               encrypted_key_names="keyname")
    assert _signed_in(response, visitor)


def test_a_response_signed_around_its_encrypted_assertion_signs_in(visitor, entra):
    """SimpleSAMLphp's default order: sign the assertion, encrypt it, then sign the Response around the
    EncryptedAssertion; the Response's signature is checked on the response as it came."""
    response = visitor.sign_in(attributes=nina(), encrypt_for=_active_cert(), sign_response=True)
    assert _signed_in(response, visitor), response.get_data(as_text=True)[:500]


def test_a_response_signature_made_around_another_encrypted_assertion_is_refused(visitor, entra):
    from tests.saml_signer import build_assertion, build_response, encrypt, sign, to_xml

    request_id = visitor.start()
    spec = Spec(attributes=nina(), encrypt_for=_active_cert(), sign_response=True, in_response_to=request_id)
    response = build_response(spec)
    # Another assertion the IdP signed (for someone else), encrypted for us, put where the Response's signature
    # covered the first one: the assertion verifies, the Response must not.
    other = encrypt(sign(build_assertion(spec.but(name_id="mallory@example.com"))), _active_cert())
    response.replace(response.find("{urn:oasis:names:tc:SAML:2.0:assertion}EncryptedAssertion"), other)
    answer = visitor.post(base64.b64encode(to_xml(response)).decode())
    assert answer.status_code in (400, 403) and visitor.signed_in_as() is None
    assert _refusal().reason.startswith("signature:")


def test_rsa_1_5_key_transport_is_refused(visitor, entra):
    response = visitor.sign_in(attributes=nina(), encrypt_for=_active_cert(), key_transport="rsa-1_5")
    assert response.status_code == 400 and visitor.signed_in_as() is None
    assert "rsa-1_5" in _refusal().reason


def test_an_encrypted_assertion_whose_signature_was_not_made_by_the_idp_is_refused(visitor, entra):
    response = visitor.sign_in(attributes=nina(), encrypt_for=_active_cert(), key_name="attacker")
    assert response.status_code in (400, 403) and visitor.signed_in_as() is None
    assert _refusal().reason.startswith("signature:")


def test_require_encrypted_assertions_refuses_a_plain_one(visitor, entra, runner):
    result = runner.invoke(args=["sso", "set", "entra", "--want-encrypted", "on", "--sign-requests", "on"])
    assert result.exit_code == 0, result.output
    assert provider_values(find_provider("entra"))["want_encrypted"] is True
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 400 and visitor.signed_in_as() is None
    assert _refusal().reason.startswith("encryption:")
    assert _signed_in(visitor.sign_in(attributes=nina(), encrypt_for=_active_cert()), visitor)


def test_rollover_loses_no_sign_in_and_after_retire_the_old_key_is_named(visitor, entra, app, runner):
    old = sp_keys.ensure_active_key()
    old_cert, old_id, old_fingerprint = old.certificate_pem, old.id, old.fingerprint
    following = json.loads(runner.invoke(args=["sso", "sp-key", "rotate", "--json"]).output)
    new_cert = db.session.get(sp_keys.SpKey, following["id"]).certificate_pem
    assert _signed_in(visitor.sign_in(attributes=nina(), encrypt_for=old_cert), visitor)  # old metadata still works
    visitor = Browser(app.test_client())
    assert _signed_in(visitor.sign_in(attributes=nina(), encrypt_for=new_cert), visitor)  # and the new
    visitor = Browser(app.test_client())
    assert runner.invoke(args=["sso", "sp-key", "retire", str(old_id)]).exit_code == 0
    request_id = visitor.start()
    saml_response = signed_response(Spec(slug="entra", attributes=nina(), in_response_to=request_id,
                                         encrypt_for=old_cert))
    response = visitor.post(saml_response)
    assert response.status_code == 400 and visitor.signed_in_as() is None
    refusal = _refusal()
    assert refusal.reason.startswith("encryption:") and old_fingerprint in refusal.reason

    from crm.identity_providers.config import provider_config
    from crm.sso.report import build_report

    report = build_report(provider_config("entra"), saml_response, request_id)
    (check,) = [c for c in report["checks"] if c["key"] == "decryption"]
    assert check["passed"] is False and old_fingerprint in check["detail"] and "old metadata" in check["hint"]
    assert following["fingerprint"] in check["detail"]


def test_report_of_an_encrypted_assertion_while_we_hold_no_key(entra):
    from crm.identity_providers.config import provider_config
    from crm.sso.report import build_report
    from tests.saml_keys import key_pair

    foreign = key_pair("attacker")[1]
    assert db.session.scalar(db.select(sp_keys.SpKey.id)) is None
    report = build_report(provider_config("entra"), signed_response(Spec(slug="entra", encrypt_for=foreign)))
    (check,) = [c for c in report["checks"] if c["key"] == "decryption"]
    assert check["passed"] is False and "holds no key" in check["detail"]
    assert report["ok"] is False


def test_report_says_which_of_our_keys_opened_it(entra):
    from crm.identity_providers.config import provider_config
    from crm.sso.report import build_report

    key = sp_keys.ensure_active_key()
    report = build_report(provider_config("entra"), signed_response(Spec(slug="entra", attributes=nina(),
                                                                         encrypt_for=key.certificate_pem)))
    assert report["encrypted_with"] == key.fingerprint
    assert [c["key"] for c in report["checks"] if c["passed"] is False] == ["request"]  # IdP-initiated, not allowed
    assert report["name_id"] == "nina.novak@example.com"  # every check ran on the decrypted assertion


def test_a_changed_secret_key_refuses_an_encrypted_assertion_and_says_why(entra, app):
    from crm.identity_providers.config import provider_config
    from crm.sso.report import build_report

    certificate = _active_cert()
    app.config["SECRET_KEY"] = "another-secret-key"
    report = build_report(provider_config("entra"), signed_response(Spec(slug="entra", encrypt_for=certificate)))
    (check,) = [c for c in report["checks"] if c["key"] == "decryption"]
    assert check["passed"] is False and "SECRET_KEY" in check["detail"] and "sp-key rotate" in check["hint"]


def test_a_pasted_encrypted_response_gets_its_report_in_the_browser(entra, admin_client):
    from tests.conftest import csrf_token

    key = sp_keys.ensure_active_key()
    token = csrf_token(admin_client, "/designer/sso/entra")
    page = admin_client.post("/designer/sso/entra/inspect", data={
        "csrf_token": token, "saml_response": signed_response(Spec(attributes=nina(), in_response_to="_r",
                                                                   encrypt_for=key.certificate_pem))})
    html = page.get_data(as_text=True)
    assert "would sign the user in" in html and f"our key <code>{key.fingerprint}</code> opened it" in html
