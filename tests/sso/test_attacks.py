"""Every line of SAML-SECURITY.md: the attack is refused (400 or a refusal page), nothing is created or changed,
and nobody is signed in. Responses are real and signed by tests/saml_signer.py; nothing is patched."""
import base64
import copy
import time

import pytest
from lxml import etree

from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.extensions import db
from tests import factories
from tests.saml_signer import SAML, SAMLP, Spec, build_assertion, build_response, encode, sign, signed_response, to_xml
from tests.sso.conftest import CLAIMS, nina

DS = "http://www.w3.org/2000/09/xmldsig#"


def _counts():
    return (db.session.scalar(db.select(db.func.count(User.id))),
            db.session.scalar(db.select(db.func.count(AuditEvent.id)).where(AuditEvent.outcome.in_(
                ["created", "updated", "unchanged"]))))


@pytest.fixture
def guard(visitor, entra):
    """Asserts after the test's attack that nothing was created and nobody is signed in."""
    before = _counts()

    def refused(response, status=400, text=None):
        body = response.get_data(as_text=True)
        assert response.status_code == status, (response.status_code, body[-500:])
        assert visitor.signed_in_as() is None
        assert _counts() == before
        assert "Traceback" not in body
        if text:
            assert text in body
        return body
    return refused


def _attempt(visitor, element_or_b64):
    request_id = visitor.start()
    if callable(element_or_b64):
        element_or_b64 = element_or_b64(request_id)
    payload = element_or_b64 if isinstance(element_or_b64, str) else encode(element_or_b64)
    return visitor.post(payload)


def spec(request_id, **fields):
    return Spec(attributes=nina(), in_response_to=request_id).but(**fields)


# --- what python3-saml rejects by itself (strict mode): keep it so ------------------------------------------------

def test_unsigned_assertion(visitor, guard):
    guard(_attempt(visitor, lambda rid: build_response(spec(rid, sign_assertion=False))), text="could not be verified")


def test_signature_stripped(visitor, guard):
    def stripped(rid):
        response = build_response(spec(rid))
        signature = response.find(f".//{{{DS}}}Signature")
        signature.getparent().remove(signature)
        return response
    guard(_attempt(visitor, stripped))


def test_content_changed_after_signing(visitor, guard):
    def tampered(rid):
        response = build_response(spec(rid))
        response.find(f".//{{{SAML}}}NameID").text = "admin"
        return response
    guard(_attempt(visitor, tampered))


def test_signed_by_another_key_even_with_its_certificate_in_keyinfo(visitor, guard):
    guard(_attempt(visitor, lambda rid: build_response(spec(rid, key_name="attacker"))), text="could not be verified")


def test_signed_response_but_unsigned_assertion_is_not_enough(visitor, guard):
    guard(_attempt(visitor, lambda rid: build_response(spec(rid, sign_assertion=False, sign_response=True))))


def _xsw(rid, where):
    """XML Signature Wrapping: keep the signed assertion, add an evil unsigned one the app might read."""
    good = sign(build_assertion(spec(rid, name_id="nobody@example.com")))
    evil = build_assertion(spec(rid, name_id="admin", assertion_id="_evil"))
    response = build_response(spec(rid), assertion=good)
    if where == "before":
        response.insert(response.index(good), evil)
    elif where == "inside-signature":
        good.find(f".//{{{DS}}}Signature").append(evil)
    elif where == "wrapper":
        wrapper = etree.SubElement(evil, f"{{{SAMLP}}}Extensions")
        response.remove(good)
        wrapper.append(good)
        response.append(evil)
    else:
        response.append(evil)
    return response


@pytest.mark.parametrize("where", ["before", "after", "inside-signature", "wrapper"])
def test_signature_wrapping_and_extra_assertions(visitor, guard, where):
    guard(_attempt(visitor, lambda rid: _xsw(rid, where)))


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
])
def test_dtd_external_entities_and_billion_laughs(visitor, guard, doctype):
    def with_dtd(rid):
        return encode(doctype.encode() + to_xml(build_response(spec(rid))))
    guard(_attempt(visitor, with_dtd), text="could not be read")


@pytest.mark.parametrize("fields, text", [
    ({"not_on_or_after": -600, "scd_not_on_or_after": -600, "not_before": -900}, "clock is off"),
    ({"not_before": 900}, "clock is off"),
    ({"scd_not_on_or_after": -130}, None),  # past the provider's 120 s of clock skew
    ({"audience": "https://other-sp.example/metadata"}, "meant for another application"),
    ({"recipient": "https://other-sp.example/acs"}, None),
    ({"destination": "https://other-sp.example/acs"}, "sent to another address"),
    ({"issuer": "https://evil-idp.example"}, None),
    ({"status": "urn:oasis:names:tc:SAML:2.0:status:Requester"}, "did not sign you in"),
    ({"sha1": True}, "SHA-1"),
    ({"name_id": ""}, None),
])
def test_library_checks(visitor, guard, fields, text):
    from datetime import timedelta

    fields = {k: timedelta(seconds=v) if k in ("not_on_or_after", "scd_not_on_or_after", "not_before") else v
              for k, v in fields.items()}
    guard(_attempt(visitor, lambda rid: build_response(spec(rid, **fields))), text=text)


def test_in_response_to_different_from_the_request(visitor, guard):
    guard(_attempt(visitor, lambda rid: build_response(spec("_someone-elses-request"))), text="did not start")


def test_duplicate_attribute_names(visitor, guard):
    def duplicated(rid):
        assertion = build_assertion(spec(rid))
        statement = assertion.find(f"{{{SAML}}}AttributeStatement")
        statement.append(copy.deepcopy(statement[0]))
        return build_response(spec(rid), assertion=sign(assertion))
    guard(_attempt(visitor, duplicated))


def test_comment_injection_in_the_name_id_never_reaches_another_account(visitor, entra):
    factories.user("admin@example.com", roles=("Administrators",))

    def injected(rid):
        assertion = build_assertion(spec(rid, name_id="placeholder"))
        name_id = assertion.find(f".//{{{SAML}}}NameID")
        name_id.text = "admin@example.com"
        name_id.append(etree.Comment(""))
        name_id[-1].tail = ".evil.example"
        return build_response(spec(rid), assertion=sign(assertion))
    _attempt(visitor, injected)
    signed_in = visitor.signed_in_as()
    admin_id = str(db.session.scalar(db.select(User.id).where(User.username == "admin@example.com")))
    assert signed_in != admin_id


# --- what the application must do itself ---------------------------------------------------------------------------

def test_replay_of_the_same_assertion_is_refused(visitor, entra):
    entra.allow_idp_initiated = True
    db.session.commit()
    payload = signed_response(Spec(attributes=nina()))
    assert visitor.post(payload).status_code == 302
    visitor.client.post("/logout", data={"csrf_token": _token(visitor.client)})
    response = visitor.post(payload)
    assert response.status_code == 400 and "already used" in response.get_data(as_text=True)
    assert visitor.signed_in_as() is None


def test_replay_rewrapped_in_a_new_response_is_refused(visitor, entra):
    entra.allow_idp_initiated = True
    db.session.commit()
    assertion = sign(build_assertion(Spec(attributes=nina())))
    assert visitor.post(encode(build_response(Spec(), assertion=copy.deepcopy(assertion)))).status_code == 302
    visitor.client.post("/logout", data={"csrf_token": _token(visitor.client)})
    response = visitor.post(encode(build_response(Spec(), assertion=assertion)))
    assert response.status_code == 400 and visitor.signed_in_as() is None


def _token(client):
    from tests.conftest import csrf_token

    return csrf_token(client, "/contacts")


def test_unsolicited_response_when_idp_initiated_is_off(visitor, guard):
    guard(visitor.post(signed_response(Spec(attributes=nina()))), text="did not start that sign-in")


def test_in_response_to_removed_from_the_unsigned_response(visitor, guard):
    guard(_attempt(visitor, lambda rid: build_response(spec(None, scd_in_response_to=rid))))


def test_in_response_to_kept_on_the_response_but_changed_in_the_assertion(visitor, guard):
    guard(_attempt(visitor, lambda rid: build_response(spec(rid, scd_in_response_to="_other"))))


def test_no_audience_restriction(visitor, guard):
    guard(_attempt(visitor, lambda rid: build_response(spec(rid, audience=None))), text="another application")


@pytest.mark.parametrize("recipient", [None, "http://localhost/sso/entra/acs/extra", "http://localhost/sso/entra/ac"])
def test_recipient_missing_or_only_containing_the_acs_url(visitor, guard, recipient):
    guard(_attempt(visitor, lambda rid: build_response(spec(rid, recipient=recipient))))


def test_destination_that_only_starts_with_the_acs_url(visitor, guard):
    guard(_attempt(visitor, lambda rid: build_response(spec(rid, destination="http://localhost/sso/entra/acsX"))))


XSLT = ('<ds:Transform xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="http://www.w3.org/TR/1999/REC-xslt-'
        '19991116"><xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"><xsl:template '
        'match="/"><xsl:value-of select="count(//*)"/></xsl:template></xsl:stylesheet></ds:Transform>')


def test_xslt_transform_is_refused_before_any_signature_work(visitor, guard):
    def with_xslt(rid):
        response = build_response(spec(rid))
        transforms = next(response.iter(f"{{{DS}}}Transforms"))
        transforms.insert(0, etree.fromstring(XSLT))
        return response
    started = time.perf_counter()
    body = guard(_attempt(visitor, with_xslt), text="refused for safety reasons")
    assert time.perf_counter() - started < 5 and body
    reason = db.session.scalar(db.select(AuditEvent.reason).where(AuditEvent.outcome == "rejected"))
    assert reason.startswith("transform:")


def test_huge_body_and_huge_attributes(visitor, guard, app):
    guard(visitor.post("A" * (300 * 1024)), text="too large")
    guard(_attempt(visitor, lambda rid: build_response(spec(rid, attributes=nina(jobtitle="x" * 5000)))),
          text="more data than the CRM accepts")
    many_groups = nina(**{"g": [str(i) for i in range(1500)]})
    guard(_attempt(visitor, lambda rid: build_response(spec(rid, attributes=many_groups))),
          text="more data than the CRM accepts")
    over_limit = visitor.client.post("http://localhost/sso/entra/acs", data={"SAMLResponse": "A" * (3 * 1024 * 1024)})
    assert over_limit.status_code == 413


def test_name_id_is_stripped_and_case_folded_but_look_alikes_are_not(visitor, entra, client):
    visitor.sign_in(attributes=nina())
    first = visitor.signed_in_as()
    client.post("/logout", data={"csrf_token": _token(client)})
    visitor.sign_in(attributes=nina(), name_id="  Nina.NOVAK@Example.com ")
    assert visitor.signed_in_as() == first
    client.post("/logout", data={"csrf_token": _token(client)})
    visitor.sign_in(attributes=nina(**{CLAIMS + "emailaddress": "x@example.com"}), name_id="ｎｉｎａ.novak@example.com")
    assert visitor.signed_in_as() != first  # full-width look-alike: a different account, never Nina's


def test_attribute_names_match_exactly_and_values_are_escaped_on_output(visitor, entra, client, admin):
    attributes = nina(**{CLAIMS + "givenname": "<script>alert(1)</script>"})
    attributes["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/EmailAddress"] = attributes.pop(
        CLAIMS + "emailaddress")
    visitor.sign_in(attributes=attributes, name_id="nina-id-42")
    user = db.session.scalar(db.select(User).where(User.username == "nina-id-42"))
    assert user.contact.email is None  # "EmailAddress" is not the configured "emailaddress"
    client.post("/logout", data={"csrf_token": _token(client)})
    from tests.conftest import login

    login(client, "admin", factories.PASSWORD)
    page = client.get(f"/contacts/{user.contact_id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


@pytest.mark.parametrize("payload", ["%%%not base64%%%", base64.b64encode(b"not xml at all").decode(),
                                     base64.b64encode(b"<samlp:Response xmlns:samlp='x'>").decode(),
                                     base64.b64encode(b"<a/>").decode()])
def test_library_exceptions_become_a_400_page(visitor, guard, payload):
    guard(visitor.post(payload))


def test_csrf_exemption_is_only_for_acs_and_sls(client, entra, admin):
    from tests.conftest import login

    login(client, "admin", factories.PASSWORD)
    token_free = client.post("/designer/sso/entra/preset", data={"preset": "okta"})
    assert token_free.status_code == 400


def test_session_is_fresh_and_cookies_are_safe_after_sso(visitor, entra):
    with visitor.client.session_transaction() as session:
        session["planted"] = "fixation"
    response = visitor.sign_in(attributes=nina())
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with visitor.client.session_transaction() as session:
        assert "planted" not in session and "saml_pending" not in session


def _with_extra_reference(uri: str):
    def build(rid):
        assertion = sign(build_assertion(spec(rid, name_id="whoever@example.com")), "attacker")  # no IdP key needed
        signed_info = next(assertion.iter(f"{{{DS}}}SignedInfo"))
        reference = etree.SubElement(signed_info, f"{{{DS}}}Reference", URI=uri)
        etree.SubElement(reference, f"{{{DS}}}DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
        etree.SubElement(reference, f"{{{DS}}}DigestValue").text = "AAAA"
        return build_response(spec(rid), assertion=assertion)
    return build


@pytest.mark.parametrize("uri", ["file:///dev/zero", "#xpointer(//*[count(//*[count(//*)>0])>0])", "#_a1"])
def test_extra_references_are_refused_before_xmlsec_follows_them(visitor, guard, uri):
    started = time.perf_counter()
    guard(_attempt(visitor, _with_extra_reference(uri)), text="refused for safety reasons")
    assert time.perf_counter() - started < 2


def test_reference_to_another_element_is_refused(visitor, guard):
    def elsewhere(rid):
        response = build_response(spec(rid))
        next(response.iter(f"{{{DS}}}Reference")).set("URI", "#" + response.get("ID"))
        return response
    guard(_attempt(visitor, elsewhere), text="refused for safety reasons")


def test_exclusive_c14n_with_inclusive_namespaces_is_accepted(visitor, entra):
    """OpenSAML/Shibboleth IdPs name InclusiveNamespaces under exc-c14n: a genuine signature must pass."""
    def shibboleth_style(rid):
        return build_response(spec(rid), assertion=sign(build_assertion(spec(rid)), inclusive_prefixes="xs"))
    assert _attempt(visitor, shibboleth_style).status_code == 302


def test_schema_is_still_checked_with_the_cached_schemas(visitor, guard):
    def off_schema(rid):
        assertion = build_assertion(spec(rid))
        etree.SubElement(assertion, f"{{{SAML}}}NotAnElement")
        return build_response(spec(rid), assertion=sign(assertion))
    guard(_attempt(visitor, off_schema))
    reason = db.session.scalar(db.select(AuditEvent.reason).where(AuditEvent.outcome == "rejected"))
    assert "saml-schema" in reason
