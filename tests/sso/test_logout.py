"""Single logout: /logout ends the IdP session too; the IdP's LogoutRequest and LogoutResponse at /sso/<slug>/sls."""
import base64
import tracemalloc
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.identity_providers import services as providers
from crm.sso import logout
from crm.sso.rejections import SamlRejected
from tests.conftest import csrf_token
from tests.saml_signer import sign_redirect
from tests.sso.conftest import nina

SLS = "http://localhost/sso/entra/sls"


def _instant(delta=timedelta()):
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def logout_request(name_id: str, destination: str | None = SLS, issuer: str | None = "https://idp.example.com/entra",
                   session_index: str | None = "_session-1") -> str:
    """A LogoutRequest as an IdP sends it on the HTTP-Redirect binding (deflated, base64)."""
    xml = (f'<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
           f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_{uuid.uuid4().hex}" Version="2.0" '
           f'IssueInstant="{_instant()}"' + (f' Destination="{destination}"' if destination else "")
           + f' NotOnOrAfter="{_instant(timedelta(minutes=5))}">'
           + (f"<saml:Issuer>{issuer}</saml:Issuer>" if issuer else "") + f"<saml:NameID>{name_id}</saml:NameID>"
           + (f"<samlp:SessionIndex>{session_index}</samlp:SessionIndex>" if session_index else "")
           + "</samlp:LogoutRequest>")
    return OneLogin_Saml2_Utils.deflate_and_base64_encode(xml)


def logout_response(in_response_to: str) -> str:
    xml = (f'<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
           f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_{uuid.uuid4().hex}" Version="2.0" '
           f'IssueInstant="{_instant()}" Destination="{SLS}" InResponseTo="{in_response_to}">'
           "<saml:Issuer>https://idp.example.com/entra</saml:Issuer><samlp:Status><samlp:StatusCode "
           'Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>')
    return OneLogin_Saml2_Utils.deflate_and_base64_encode(xml)


def test_logout_of_an_sso_user_goes_to_the_idp_and_back(visitor, entra, client):
    visitor.sign_in(attributes=nina())
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/contacts")})
    location = response.headers["Location"]
    assert location.startswith("https://idp.example.com/entra/slo?SAMLRequest=")
    assert visitor.signed_in_as() is None
    request_xml = OneLogin_Saml2_Utils.decode_base64_and_inflate(parse_qs(urlsplit(location).query)["SAMLRequest"][0])
    assert b"nina.novak@example.com" in request_xml
    request_id = request_xml.split(b'ID="', 1)[1].split(b'"', 1)[0].decode()
    back = client.get("/sso/entra/sls", query_string={"SAMLResponse": logout_response(request_id)})
    assert back.status_code == 302 and back.headers["Location"].endswith("/login")


def test_idp_initiated_logout_ends_the_matching_session_only(visitor, entra, client):
    visitor.sign_in(attributes=nina())
    forged = client.get("/sso/entra/sls", query_string={"SAMLRequest": logout_request("someone.else@example.com")})
    assert forged.status_code == 302 and visitor.signed_in_as() is not None
    guessed = client.get("/sso/entra/sls", query_string={
        "SAMLRequest": logout_request("nina.novak@example.com", session_index="_guessed")})
    assert guessed.status_code == 302 and visitor.signed_in_as() is not None
    response = client.get("/sso/entra/sls", query_string={"SAMLRequest": logout_request("Nina.Novak@example.com")})
    assert response.headers["Location"].startswith("https://idp.example.com/entra/slo?SAMLResponse=")
    assert visitor.signed_in_as() is None


def test_a_forged_unsigned_logout_response_signs_nobody_out(visitor, entra, client):
    visitor.sign_in(attributes=nina())
    client.get("/sso/entra/sls", query_string={"SAMLResponse": logout_response("_anything")})
    assert visitor.signed_in_as() is not None


def test_logout_request_from_another_issuer_or_malformed_is_refused(visitor, entra, client):
    visitor.sign_in(attributes=nina())
    evil = client.get("/sso/entra/sls", query_string={
        "SAMLRequest": logout_request("nina.novak@example.com", issuer="https://evil.example")})
    assert evil.status_code == 400 and visitor.signed_in_as() is not None
    broken = client.get("/sso/entra/sls", query_string={"SAMLRequest": "not-deflated-base64"})
    assert broken.status_code == 400 and "Traceback" not in broken.get_data(as_text=True)
    assert client.get("/sso/entra/sls").status_code == 400


def test_local_user_logout_stays_local(client, admin, entra):
    from tests import factories
    from tests.conftest import login

    login(client, "admin", factories.PASSWORD)
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/contacts")})
    assert response.headers["Location"] == "/login"


def _set(provider, **values) -> None:
    providers.save_provider(provider, providers.provider_values(provider) | values)
    db.session.commit()


def _sls(client, query: str):
    return client.get(f"/sso/entra/sls?{query}")


def _refusal_reasons() -> list[str]:
    return list(db.session.scalars(db.select(AuditEvent.reason).where(AuditEvent.action == "sso.rejected")))


@pytest.mark.parametrize("forged, why", [
    ({"issuer": None}, "issuer '(none)' is not https://idp.example.com/entra"),
    ({"issuer": "https://idp.example.com/entra/evil"}, "is not https://idp.example.com/entra"),
    ({"destination": SLS + "/elsewhere"}, "is not this SP's logout URL"),
])
def test_a_logout_request_must_come_from_the_providers_entity_id_to_our_logout_url(visitor, entra, client, forged,
                                                                                   why):
    """python3-saml lets a LogoutRequest without an Issuer through, and a Destination that only starts with ours."""
    visitor.sign_in(attributes=nina())
    response = _sls(client, "SAMLRequest=" + quote_plus(logout_request("nina.novak@example.com", **forged)))
    assert response.status_code == 400 and visitor.signed_in_as() is not None
    assert why in _refusal_reasons()[-1]
    assert db.session.scalars(db.select(AuditEvent.summary)).all()[-1] == "Refused a logout message from entra"


def test_a_provider_that_signs_its_logout_messages_has_them_verified(visitor, entra, client):
    _set(entra, logout_signed=True)
    visitor.sign_in(attributes=nina())
    unsigned = _sls(client, "SAMLRequest=" + quote_plus(logout_request("nina.novak@example.com")))
    assert unsigned.status_code == 400 and visitor.signed_in_as() is not None
    assert "The SAMLRequest is not signed" in _refusal_reasons()[-1]
    forged = _sls(client, sign_redirect("SAMLRequest", logout_request("nina.novak@example.com"), "another-key"))
    assert forged.status_code == 400 and visitor.signed_in_as() is not None
    signed = _sls(client, sign_redirect("SAMLRequest", logout_request("nina.novak@example.com"), relay_state="/x"))
    assert signed.status_code == 302 and signed.headers["Location"].startswith("https://idp.example.com/entra/slo?")
    assert "RelayState=%2Fx" in signed.headers["Location"] and visitor.signed_in_as() is None


def test_a_signed_logout_request_is_verified_even_when_signatures_are_not_required(visitor, entra, client):
    visitor.sign_in(attributes=nina())
    forged = _sls(client, sign_redirect("SAMLRequest", logout_request("nina.novak@example.com"), "another-key"))
    assert forged.status_code == 400 and visitor.signed_in_as() is not None
    signed = _sls(client, sign_redirect("SAMLRequest", logout_request("nina.novak@example.com")))
    assert signed.status_code == 302 and visitor.signed_in_as() is None


def test_a_logout_request_without_a_session_index_is_refused_when_the_session_has_one(visitor, entra, client):
    """Today it was answered Success at the IdP while this session went on."""
    visitor.sign_in(attributes=nina())
    response = _sls(client, "SAMLRequest=" + quote_plus(logout_request("nina.novak@example.com", session_index=None)))
    assert response.status_code == 400 and visitor.signed_in_as() is not None
    assert "without a SessionIndex, though this session has one" in _refusal_reasons()[-1]


def test_a_valid_logout_for_a_provider_without_an_slo_url_ends_on_the_login_page(visitor, entra, client):
    _set(entra, slo_url="")
    visitor.sign_in(attributes=nina())
    response = _sls(client, "SAMLRequest=" + quote_plus(logout_request("nina.novak@example.com")))
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert visitor.signed_in_as() is None and _refusal_reasons() == []


def test_the_inflated_size_is_capped_while_inflating(visitor, entra, client):
    """Thirteen kilobytes of deflate inflate to ten megabytes (a thousand to one): inflating stops at the cap."""
    squeezer = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = squeezer.compress(b"<samlp:LogoutRequest " + b" " * 10_000_000) + squeezer.flush()
    encoded = base64.b64encode(bomb).decode()
    assert len(encoded) < logout.MAX_ENCODED_CHARS
    tracemalloc.start()
    with pytest.raises(SamlRejected) as refused:
        logout.inflate(encoded)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert refused.value.code == "too_large" and refused.value.unread and peak < 1_000_000
    visitor.sign_in(attributes=nina())
    assert _sls(client, "SAMLRequest=" + quote_plus(encoded)).status_code == 400
    assert visitor.signed_in_as() is not None and _refusal_reasons() == []  # unread: the log, not the audit trail
