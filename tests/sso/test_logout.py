"""Single logout: /logout ends the IdP session too; the IdP's LogoutRequest and LogoutResponse at /sso/<slug>/sls."""
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from onelogin.saml2.utils import OneLogin_Saml2_Utils

from tests.conftest import csrf_token
from tests.sso.conftest import nina

SLS = "http://localhost/sso/entra/sls"


def _instant(delta=timedelta()):
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def logout_request(name_id: str, destination: str = SLS, issuer: str = "https://idp.example.com/entra",
                   session_index: str | None = "_session-1") -> str:
    xml = (f'<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
           f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_{uuid.uuid4().hex}" Version="2.0" '
           f'IssueInstant="{_instant()}" Destination="{destination}" NotOnOrAfter="{_instant(timedelta(minutes=5))}">'
           f"<saml:Issuer>{issuer}</saml:Issuer><saml:NameID>{name_id}</saml:NameID>"
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
