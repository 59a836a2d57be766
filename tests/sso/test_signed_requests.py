"""Sign authentication requests: the AuthnRequest (HTTP-Redirect: the query string; HTTP-POST: an enveloped XML
signature) and our logout messages signed with the active SP key, RSA-SHA256, verified here as an IdP verifies
them, with the certificate from our metadata; set from `sso set`, the provider page and `sso import`, audited."""
import base64
import html
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from crm.sso import sp_keys
from tests import factories
from tests.conftest import csrf_token


def _provider(slug="okta") -> IdentityProvider:
    db.session.expire_all()
    return db.session.scalar(db.select(IdentityProvider).where(IdentityProvider.slug == slug))


def _redirect_signature_verifies(location: str, certificate_pem: str) -> bool:
    """What an IdP does with a signed HTTP-Redirect message: the signed part of the query as sent, then the key."""
    parts = urlsplit(location).query.split("&")
    signed = "&".join(p for p in parts if p.split("=")[0] in ("SAMLRequest", "SAMLResponse", "RelayState", "SigAlg"))
    fields = parse_qs(urlsplit(location).query)
    assert fields["SigAlg"] == [C.RSA_SHA256]
    signature = base64.b64decode(fields["Signature"][0])
    return OneLogin_Saml2_Utils.validate_binary_sign(signed, signature, certificate_pem, C.RSA_SHA256)


def test_redirect_authn_request_is_signed_with_the_active_key_only_when_asked(client, app, runner):
    factories.provider("okta")
    unsigned = client.get("/sso/okta/login").headers["Location"]
    assert "Signature=" not in unsigned and "SigAlg=" not in unsigned
    assert b'AuthnRequestsSigned="false"' in client.get("/sso/okta/metadata").data
    assert runner.invoke(args=["sso", "set", "okta", "--sign-requests", "on"]).exit_code == 0
    location = client.get("/sso/okta/login").headers["Location"]
    active = sp_keys.ensure_active_key()
    assert _redirect_signature_verifies(location, active.certificate_pem)
    assert b'AuthnRequestsSigned="true"' in client.get("/sso/okta/metadata").data


def test_after_rotate_the_old_key_signs_and_after_retire_the_new_one(client, app, runner):
    factories.provider("okta", sign_requests=True)
    old = sp_keys.ensure_active_key()
    old_cert, old_id = old.certificate_pem, old.id
    following = json.loads(runner.invoke(args=["sso", "sp-key", "rotate", "--json"]).output)
    new_cert = db.session.get(sp_keys.SpKey, following["id"]).certificate_pem
    location = client.get("/sso/okta/login").headers["Location"]
    assert _redirect_signature_verifies(location, old_cert)  # an IdP with our old metadata keeps accepting it
    assert not _redirect_signature_verifies(location, new_cert)
    assert runner.invoke(args=["sso", "sp-key", "retire", str(old_id)]).exit_code == 0
    location = client.get("/sso/okta/login").headers["Location"]
    assert _redirect_signature_verifies(location, new_cert)
    assert not _redirect_signature_verifies(location, old_cert)


def test_post_binding_authn_request_carries_a_verifiable_xml_signature(client, app):
    factories.provider("okta", sign_requests=True, sso_binding="post")
    page = client.get("/sso/okta/login").get_data(as_text=True)
    encoded = html.unescape(re.search(r'name="SAMLRequest" value="([^"]+)"', page).group(1))
    xml = base64.b64decode(encoded)
    assert b"<ds:Signature" in xml and C.RSA_SHA256.encode() in xml
    certificate = sp_keys.ensure_active_key().certificate_pem
    assert _xml_signature_verifies(xml, certificate)
    tampered = xml.replace(b"<samlp:AuthnRequest ", b'<samlp:AuthnRequest IsPassive="true" ', 1)
    assert not _xml_signature_verifies(tampered, certificate)
    assert not _xml_signature_verifies(xml, factories_cert("attacker"))


def _xml_signature_verifies(xml: bytes, certificate_pem: str) -> bool:
    return OneLogin_Saml2_Utils.validate_sign(xml, certificate_pem, validatecert=False,
                                              xpath="/samlp:AuthnRequest/ds:Signature")


def factories_cert(name: str) -> str:
    from tests.saml_keys import key_pair

    return key_pair(name)[1]


def test_an_unsigned_post_binding_request_stays_unsigned(client, app):
    factories.provider("okta", sso_binding="post")
    page = client.get("/sso/okta/login").get_data(as_text=True)
    encoded = html.unescape(re.search(r'name="SAMLRequest" value="([^"]+)"', page).group(1))
    assert b"Signature" not in base64.b64decode(encoded)


def test_sso_set_page_and_import_change_the_settings_and_audit_them(admin_client, app, runner, tmp_path):
    factories.provider("okta")
    result = runner.invoke(args=["sso", "set", "okta", "--sign-requests", "on", "--want-encrypted", "on"])
    assert result.exit_code == 0, result.output
    assert (_provider().sign_requests, _provider().want_encrypted) == (True, True)
    update = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "sso.provider_update")
                                .order_by(AuditEvent.id.desc())).first()
    assert update.changes == {"sign_requests": {"before": False, "after": True},
                              "want_encrypted": {"before": False, "after": True}}
    exported = json.loads(runner.invoke(args=["sso", "export", "okta"]).output)
    item = exported["providers"][0]
    assert (item["sign_requests"], item["want_encrypted"]) == (True, True)
    page = html.unescape(admin_client.get("/designer/sso/okta").get_data(as_text=True))
    assert "Sign authentication requests" in page and "Require encrypted assertions" in page
    data = {"csrf_token": csrf_token(admin_client, "/designer/sso/okta"), "display_name": "Okta", "slug": "okta",
            "entity_id": "https://idp.example.com/okta", "sso_url": "https://idp.example.com/okta/sso",
            "sso_binding": "redirect", "license_policy": "all", "new_user_type": "employee", "enabled": "y",
            "jit_enabled": "y", "show_on_login": "y", "clock_skew_seconds": "120", "session_max_hours": ""}
    assert admin_client.post("/designer/sso/okta", data=data).status_code == 302  # both boxes left unticked
    assert (_provider().sign_requests, _provider().want_encrypted) == (False, False)
    path = tmp_path / "okta.json"
    path.write_text(json.dumps(exported))
    assert runner.invoke(args=["sso", "import", str(path)]).exit_code == 0
    assert (_provider().sign_requests, _provider().want_encrypted) == (True, True)


@pytest.mark.parametrize("args, message", [
    (["--sign-requests", "maybe"], "Invalid value for '--sign-requests'"),
    (["--want-encrypted", "yes"], "Invalid value for '--want-encrypted'"),
])
def test_sso_set_refuses_a_bad_value_and_changes_nothing(runner, app, args, message):
    factories.provider("okta")
    result = runner.invoke(args=["sso", "set", "okta", *args])
    assert result.exit_code == 2 and message in result.output
    assert (_provider().sign_requests, _provider().want_encrypted) == (False, False)


def test_import_refuses_a_value_that_is_not_on_or_off(runner, app, tmp_path):
    factories.provider("okta")
    exported = json.loads(runner.invoke(args=["sso", "export"]).output)
    exported["providers"][0] |= {"want_encrypted": "yes", "display_name": "Renamed"}
    (tmp_path / "bad.json").write_text(json.dumps(exported))
    result = runner.invoke(args=["sso", "import", str(tmp_path / "bad.json")])
    assert result.exit_code == 1 and "Require encrypted assertions must be on or off" in result.stderr
    assert _provider().want_encrypted is False and _provider().display_name == "Okta"


def test_our_logout_messages_are_signed_when_the_provider_asks(visitor, entra, client, runner):
    from tests.sso.conftest import nina
    from tests.sso.test_logout import logout_request

    assert runner.invoke(args=["sso", "set", "entra", "--sign-requests", "on"]).exit_code == 0
    certificate = sp_keys.ensure_active_key().certificate_pem
    assert visitor.sign_in(attributes=nina()).status_code == 302
    location = client.post("/logout", data={"csrf_token": csrf_token(client, "/contacts")}).headers["Location"]
    assert "SAMLRequest=" in location and _redirect_signature_verifies(location, certificate)
    assert visitor.sign_in(attributes=nina()).status_code == 302
    answer = client.get("/sso/entra/sls", query_string={"SAMLRequest": logout_request("nina.novak@example.com")})
    location = answer.headers["Location"]
    assert "SAMLResponse=" in location and _redirect_signature_verifies(location, certificate)
    assert visitor.signed_in_as() is None


REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
DENIED = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"


@pytest.mark.parametrize("detail, message", [
    (DENIED, None),  # Shibboleth: Requester / RequestDenied
    (None, "The request was not signed, but this relying party requires signed requests"),
])
def test_report_names_an_idp_that_refused_our_unsigned_authn_request(visitor, entra, detail, message):
    from crm.identity_providers.config import provider_config
    from crm.sso.report import build_report
    from tests.saml_signer import Spec, signed_response

    request_id = visitor.start()
    refused = signed_response(Spec(slug="entra", in_response_to=request_id, status=REQUESTER, status_detail=detail,
                                   status_message=message))
    report = build_report(provider_config("entra"), refused, request_id)
    (status,) = [c for c in report["checks"] if c["key"] == "status"]
    assert status["passed"] is False and "--sign-requests on" in status["hint"]
    assert "Sign authentication requests" in status["hint"]
    response = visitor.post(refused)
    assert response.status_code == 400 and visitor.signed_in_as() is None
    refusal = db.session.scalars(db.select(AuditEvent).where(AuditEvent.outcome == "rejected")).first()
    assert "refused our unsigned AuthnRequest" in refusal.reason


def test_a_refusal_unrelated_to_signing_is_not_blamed_on_it(visitor, entra, runner):
    from crm.identity_providers.config import provider_config
    from crm.sso.report import build_report
    from tests.saml_signer import Spec, signed_response

    failed = signed_response(Spec(slug="entra", status="urn:oasis:names:tc:SAML:2.0:status:Responder",
                                  status_detail="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"))
    (status,) = [c for c in build_report(provider_config("entra"), failed)["checks"] if c["key"] == "status"]
    assert status["passed"] is False and "sign-requests" not in status["hint"] and "AuthnFailed" in status["detail"]
    assert runner.invoke(args=["sso", "set", "entra", "--sign-requests", "on"]).exit_code == 0
    denied = signed_response(Spec(slug="entra", status=REQUESTER, status_detail=DENIED))
    (status,) = [c for c in build_report(provider_config("entra"), denied)["checks"] if c["key"] == "status"]
    assert "sign-requests" not in status["hint"]  # we do sign: the denial is about something else


def test_a_changed_secret_key_gives_a_refusal_page_not_a_stack_trace(client, app, runner):
    factories.provider("okta", sign_requests=True)
    sp_keys.ensure_active_key()
    app.config["SECRET_KEY"] = "another-secret-key"
    response = client.get("/sso/okta/login")
    assert response.status_code == 500 and "cannot use its own signing key" in response.get_data(as_text=True)
    refusal = db.session.scalars(db.select(AuditEvent).where(AuditEvent.outcome == "rejected")).first()
    assert "SECRET_KEY" in refusal.reason


# --- verified by a real IdP: pysaml2 (7.5.5, want_authn_requests_signed) with our SP metadata ------------------

def _pysaml2_check(slug: str, sp_metadata: str, request: dict, answer: bool = False) -> dict:
    """A pysaml2 job: its IdP, holding `sp_metadata` of ours, parses and verifies the AuthnRequest sent to it (and, with
    `answer`, answers it as the provider's IdP, with the suite's test key that tests.factories configures)."""
    from tests.saml_keys import key_pair

    key, cert = key_pair("test-idp")
    email = "nina.novak@example.com"
    user = {"name_id": email, "encrypt": False,
            "attributes": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": email}}
    return {"mode": "authn_request", "idp_entity_id": f"https://idp.example.com/{slug}",
            "sso_url": f"https://idp.example.com/{slug}/sso", "sp_metadata": sp_metadata, "idp_key_pem": key,
            "idp_cert_pem": cert} | request | ({"answer": user} if answer else {})


def _sent(client, slug: str) -> dict:
    """The AuthnRequest our login sends the provider, as the IdP receives it: the query of the HTTP-Redirect (with
    SigAlg and Signature when signed), or the form field of the HTTP-POST."""
    response = client.get(f"/sso/{slug}/login")
    if response.status_code == 302:
        fields = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}
        return {"binding": "redirect", "saml_request": fields["SAMLRequest"], "relay_state": fields.get("RelayState"),
                "sig_alg": fields.get("SigAlg"), "signature": fields.get("Signature")}
    page = response.get_data(as_text=True)
    return {"binding": "post", "saml_request": html.unescape(re.search(r'name="SAMLRequest" value="([^"]+)"',
                                                                       page).group(1))}


def test_pysaml2_verifies_our_signed_requests_before_during_and_after_a_key_rollover(client, app, runner):
    """pysaml2's IdP (want_authn_requests_signed) verifies each request with the signing certificates of the SP
    metadata it holds, and answers the verified ones: the rollover loses no sign-in at an IdP that wants them signed,
    and an IdP that never fetched our new metadata refuses the new key's signature after `retire`."""
    from tests.pysaml2_idp import pysaml2_jobs
    from tests.sso.conftest import Browser

    factories.provider("okta", sign_requests=True)  # HTTP-Redirect
    factories.provider("okta-post", sign_requests=True, sso_binding="post")
    factories.provider("plain")  # signs nothing
    metadata = {slug: client.get(f"/sso/{slug}/metadata").get_data(as_text=True) for slug in ("okta", "okta-post",
                                                                                               "plain")}
    browsers = {stage: Browser(app.test_client(), "okta") for stage in ("before", "during", "after")}
    browsers["plain"] = Browser(app.test_client(), "plain")
    first, first_post, unsigned = _sent(browsers["before"].client, "okta"), _sent(client, "okta-post"), \
        _sent(browsers["plain"].client, "plain")
    assert first["signature"] and b"<ds:Signature" in base64.b64decode(first_post["saml_request"])
    old_id = sp_keys.ensure_active_key().id
    assert runner.invoke(args=["sso", "sp-key", "rotate"]).exit_code == 0
    both_keys = client.get("/sso/okta/metadata").get_data(as_text=True)
    during = _sent(browsers["during"].client, "okta")
    assert runner.invoke(args=["sso", "sp-key", "retire", str(old_id)]).exit_code == 0
    new_only, new_only_post = (client.get(f"/sso/{slug}/metadata").get_data(as_text=True) for slug in ("okta",
                                                                                                       "okta-post"))
    after, after_post = _sent(browsers["after"].client, "okta"), _sent(client, "okta-post")
    tampered = after | {"relay_state": "/somewhere-else"}
    checks = {  # what pysaml2 is given -> whether it must verify
        "before, redirect": (_pysaml2_check("okta", metadata["okta"], first, answer=True), True),
        "before, post": (_pysaml2_check("okta-post", metadata["okta-post"], first_post), True),
        "unsigned, to an IdP that wants signed requests": (_pysaml2_check("plain", metadata["plain"], unsigned,
                                                                          answer=True), False),
        "during, IdP with our old metadata": (_pysaml2_check("okta", metadata["okta"], during, answer=True), True),
        "during, IdP with the new metadata": (_pysaml2_check("okta", both_keys, during), True),
        "after, IdP that fetched the metadata during the rollover": (_pysaml2_check("okta", both_keys, after,
                                                                                    answer=True), True),
        "after, IdP with the new metadata": (_pysaml2_check("okta", new_only, after), True),
        "after, IdP that never updated": (_pysaml2_check("okta", metadata["okta"], after), False),
        "after, post": (_pysaml2_check("okta-post", new_only_post, after_post), True),
        "after, post, IdP that never updated": (_pysaml2_check("okta-post", metadata["okta-post"], after_post), False),
        "after, RelayState changed on the way": (_pysaml2_check("okta", new_only, tampered), False),
    }
    results = dict(zip(checks, pysaml2_jobs([job for job, _ in checks.values()]), strict=True))
    assert {name: result["verified"] for name, result in results.items()} == \
        {name: verified for name, (_, verified) in checks.items()}, results
    assert all(r["issuer"] == "http://localhost/sso/okta/metadata" for n, r in results.items()
               if r["verified"] and "post" not in n)
    assert all(r["error"] == "IncorrectlySigned: Request was not signed correctly" for r in results.values()
               if not r["verified"])  # refused for its signature, not for a Destination or a time
    # pysaml2's answers to the requests it verified sign each browser in, through the rollover.
    answered = {"before": "before, redirect", "during": "during, IdP with our old metadata",
                "after": "after, IdP that fetched the metadata during the rollover"}
    for stage, name in answered.items():
        response = browsers[stage].post(results[name]["saml_response"])
        assert response.status_code == 302 and browsers[stage].signed_in_as() is not None, (stage, response.data[:300])
    _pysaml2_refused_our_unsigned_request(browsers["plain"], results["unsigned, to an IdP that wants signed requests"])


def _pysaml2_refused_our_unsigned_request(browser, result: dict) -> None:
    """pysaml2's own error Response to the unsigned request (Responder/AuthnFailed, "Request was not signed
    correctly", unsigned and without an assertion) is named by the report and the ACS: turn on signed requests."""
    from crm.identity_providers.config import provider_config
    from crm.sso.report import build_report

    with browser.client.session_transaction() as session:
        request_id = session["saml_pending"]["id"]
    report = build_report(provider_config("plain"), result["saml_response"], request_id)
    failed = [c for c in report["checks"] if c["passed"] is False]
    assert [c["key"] for c in failed] == ["status"], failed  # not "no signature at all": the IdP said no
    assert "Request was not signed correctly" in failed[0]["detail"] and "sso set plain --sign-requests on" in \
        failed[0]["hint"]
    assert browser.post(result["saml_response"]).status_code == 400 and browser.signed_in_as() is None
    refusal = db.session.scalars(db.select(AuditEvent).where(AuditEvent.idp_slug == "plain",
                                                             AuditEvent.outcome == "rejected")).one()
    assert "the IdP refused our unsigned AuthnRequest" in refusal.reason
