"""pysaml2 as the IdP: it reads our SP metadata (the encryption key from there), signs the assertion and then
encrypts it, with its own namespace prefixes (ns0, ns1) inside the EncryptedAssertion, which python3-saml alone
refuses after decryption (TOOLCHAIN.md). Its real output goes through our real ACS."""
import base64

import pytest

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.sso import sp_keys
from tests.pysaml2_idp import pysaml2_response
from tests.saml_keys import key_pair
from tests.sso.conftest import Browser

AES256_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
AES128_GCM = "http://www.w3.org/2009/xmlenc11#aes128-gcm"


def _answer(client, request_id: str, **extra) -> str:
    key, cert = key_pair("test-idp")
    return pysaml2_response({
        "idp_entity_id": "https://idp.example.com/entra", "sp_metadata": client.get("/sso/entra/metadata").get_data(
            as_text=True), "sp_entity_id": "http://localhost/sso/entra/metadata",
        "acs": "http://localhost/sso/entra/acs", "in_response_to": request_id, "name_id": "nina.novak@example.com",
        "attributes": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": "nina.novak@example.com"},
        "idp_key_pem": key, "idp_cert_pem": cert} | extra)


@pytest.mark.parametrize("content", [AES256_CBC, AES128_GCM])
def test_pysaml2_signed_then_encrypted_assertion_signs_in(visitor, entra, client, content):
    request_id = visitor.start()
    saml_response = _answer(client, request_id, content=content)
    xml = base64.b64decode(saml_response)
    assert b"EncryptedAssertion" in xml and b"<ns0:Response" in xml and content.encode() in xml
    response = visitor.post(saml_response)
    assert response.status_code == 302 and visitor.signed_in_as() is not None, response.get_data(as_text=True)[:300]


def test_pysaml2_after_a_rotation_encrypts_for_the_key_listed_first_and_both_open(visitor, entra, client, runner, app):
    old_fingerprint = sp_keys.ensure_active_key().fingerprint
    assert runner.invoke(args=["sso", "sp-key", "rotate"]).exit_code == 0
    request_id = visitor.start()
    response = visitor.post(_answer(client, request_id, content=AES256_CBC))  # pysaml2 picks from both keys
    assert response.status_code == 302 and visitor.signed_in_as() is not None
    assert old_fingerprint in [k["fingerprint"] for k in sp_keys.listing()]


def test_pysaml2_default_3des_content_is_refused_with_its_name(visitor, entra, client):
    request_id = visitor.start()
    response = visitor.post(_answer(client, request_id))
    assert response.status_code == 400 and visitor.signed_in_as() is None
    refusal = db.session.scalars(db.select(AuditEvent).where(AuditEvent.outcome == "rejected")).first()
    assert "tripledes-cbc is not accepted" in refusal.reason


def test_pysaml2_unencrypted_signed_assertion_signs_in(visitor, entra, client):
    request_id = visitor.start()
    response = visitor.post(_answer(client, request_id, encrypt=False))
    assert response.status_code == 302 and visitor.signed_in_as() is not None


def test_a_fresh_browser_is_not_signed_in_by_another_browsers_answer(entra, client, app):
    first, second = Browser(app.test_client()), Browser(app.test_client())
    request_id = first.start()
    second.start()
    assert second.post(_answer(client, request_id, content=AES256_CBC)).status_code == 400
    assert second.signed_in_as() is None


def test_python3_saml_alone_refuses_the_same_pysaml2_response(visitor, entra, client):
    """Why decryption.py splices bytes: python3-saml's own decrypt-and-replace breaks pysaml2's signature."""
    from onelogin.saml2.response import OneLogin_Saml2_Response
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    from crm.identity_providers.config import provider_config
    from crm.sso.settings import saml_settings

    request_id = visitor.start()
    saml_response = _answer(client, request_id, content=AES256_CBC)
    settings = OneLogin_Saml2_Settings(saml_settings(provider_config("entra"), sp_keys.signing_key()))
    library = OneLogin_Saml2_Response(settings, saml_response)
    request_data = {"https": "off", "http_host": "localhost", "script_name": "/sso/entra/acs", "get_data": {},
                    "post_data": {"SAMLResponse": saml_response}}
    assert library.is_valid(request_data, request_id) is False
    assert "Signature" in library.get_error() or "signature" in library.get_error()
    assert visitor.post(saml_response).status_code == 302  # ours accepts it
