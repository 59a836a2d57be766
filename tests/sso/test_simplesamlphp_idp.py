"""SimpleSAMLphp (Debian's package) as the IdP: added from its metadata URL, it signs people in through its own login
form; what it sends by default (a transient NameID, attributes under their LDAP names), signed AuthnRequests it
checks, assertions it encrypts for our keys through an SP key rollover, and its own certificate rollover picked up
by the metadata refresh. Every response is SimpleSAMLphp's real output, posted to our real ACS."""
from __future__ import annotations

import base64
import json
import urllib.parse
from datetime import timedelta

import pytest
from lxml import etree

from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from crm.sso import sp_keys
from crm.timeutil import utcnow
from crm.users.services import user_json
from tests.saml_keys import key_pair
from tests.simplesamlphp_idp import USERS, SimpleSamlPhp, simplesamlphp
from tests.sso.conftest import Browser

SLUG = "simplesaml"
SP_ENTITY_ID = f"http://localhost/sso/{SLUG}/metadata"
ACS = f"http://localhost/sso/{SLUG}/acs"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
# What an IdP admin sets so that SimpleSAMLphp sends the person's email address as the NameID.
EMAIL_NAME_ID = {"NameIDFormat": EMAIL, "simplesaml.nameidattribute": "mail"}


@pytest.fixture(scope="module")
def simplesamlphp_server():
    """One SimpleSAMLphp for the module (each test puts its configuration back first)."""
    with simplesamlphp() as server:
        yield server


@pytest.fixture
def idp(simplesamlphp_server) -> SimpleSamlPhp:
    """SimpleSAMLphp as configured at the start: its own key, the suite's users, no SP."""
    simplesamlphp_server.set_users(USERS)
    simplesamlphp_server.set_idp_key(*key_pair("simplesamlphp-idp"))
    simplesamlphp_server.trust_sp(None)
    return simplesamlphp_server


@pytest.fixture
def provider(idp, runner, app) -> IdentityProvider:
    """Provider "simplesaml" added from SimpleSAMLphp's metadata URL, JIT on, its LDAP attribute names mapped."""
    added = runner.invoke(args=["sso", "add-idp", SLUG, "--metadata-url", idp.metadata_url, "--jit"])
    assert added.exit_code == 0, added.output
    for attribute, field in (("mail", "email"), ("givenName", "given_name"), ("sn", "surname")):
        assert runner.invoke(args=["sso", "map", SLUG, "--attribute", attribute, "--field", field]).exit_code == 0
    return db.session.scalar(db.select(IdentityProvider).where(IdentityProvider.slug == SLUG))


@pytest.fixture
def visitor(client) -> Browser:
    return Browser(client, SLUG)


def _trust_us(idp: SimpleSamlPhp, client, **options) -> None:
    """SimpleSAMLphp's admin imports our SP metadata as it is now, with `options` set on the SP entry."""
    idp.trust_sp(client.get(f"/sso/{SLUG}/metadata").get_data(as_text=True), **options)


def _set(runner, *options: str) -> None:
    result = runner.invoke(args=["sso", "set", SLUG, *options])
    assert result.exit_code == 0, result.output


def _answer(idp: SimpleSamlPhp, visitor: Browser):
    """Start SP-initiated sign-in and let the person sign in at SimpleSAMLphp; what SimpleSAMLphp answers."""
    login = visitor.client.get(f"/sso/{SLUG}/login")
    assert login.status_code == 302, login.get_data(as_text=True)[:300]
    return idp.answer(login.headers["Location"])


def _sign_in(idp: SimpleSamlPhp, visitor: Browser):
    """A whole SP-initiated sign-in; our ACS's response to SimpleSAMLphp's SAMLResponse."""
    answer = _answer(idp, visitor)
    assert answer.saml_response, f"SimpleSAMLphp sent no SAMLResponse: {answer.error[:600]}\n{idp.log_tail()}"
    assert answer.action == ACS
    return visitor.post(answer.saml_response, answer.relay_state)


def _xml(saml_response: str) -> etree._Element:
    return etree.fromstring(base64.b64decode(saml_response))


def _users() -> list[dict]:
    db.session.rollback()
    return [user_json(u) for u in db.session.scalars(db.select(User).order_by(User.id))]


def _events(action: str) -> list[AuditEvent]:
    db.session.rollback()
    return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# --- added from its metadata URL; sign-in with JIT ---------------------------------------------------------------

def test_added_from_its_metadata_url_it_signs_in_creates_and_then_updates_the_user(idp, provider, visitor, client):
    assert provider.entity_id == idp.entity_id and provider.metadata_url == idp.metadata_url
    assert provider.sso_url == f"{idp.base_url}/saml2/idp/SSOService.php" and len(provider.certificates) == 1
    _trust_us(idp, client, **EMAIL_NAME_ID)
    response = _sign_in(idp, visitor)
    assert response.status_code == 302 and response.headers["Location"] == "/" and visitor.signed_in_as()
    [user] = _users()
    assert user["identity"] == {"idp": SLUG, "name_id": "nina.novak@example.com"}
    contact = user["contact"]
    assert (contact["email"], contact["given_name"], contact["surname"]) == ("nina.novak@example.com", "Nina", "Novak")
    idp.set_users({"nina": USERS["nina"] | {"sn": "Novak-Horvat"}})  # she married; the directory says so
    again = _sign_in(idp, Browser(client.application.test_client(), SLUG))
    assert again.status_code == 302
    [user] = _users()
    assert user["contact"]["surname"] == "Novak-Horvat"
    assert [e.outcome for e in _events("sso.sign_in")] == ["created", "updated"]


def test_idp_initiated_sign_in_lands_on_the_relay_state_when_allowed(idp, provider, visitor, client, runner):
    _trust_us(idp, client, **EMAIL_NAME_ID)
    unsolicited = idp.answer(idp.idp_initiated_url(SP_ENTITY_ID, "/contacts"))
    assert visitor.post(unsolicited.saml_response, unsolicited.relay_state).status_code == 400  # not allowed yet
    assert "IdP-initiated sign-in is not allowed" in _events("sso.rejected")[-1].reason
    _set(runner, "--allow-idp-initiated", "on")
    unsolicited = idp.answer(idp.idp_initiated_url(SP_ENTITY_ID, "/contacts"))
    response = visitor.post(unsolicited.saml_response, unsolicited.relay_state)
    assert response.status_code == 302 and response.headers["Location"] == "/contacts" and visitor.signed_in_as()


# --- its default NameID is transient (issue 14) ------------------------------------------------------------------

def test_its_default_transient_name_id_needs_the_immutable_id_attribute(idp, provider, visitor, client, runner):
    _trust_us(idp, client)  # SimpleSAMLphp as installed: our metadata asks for persistent, it has no user id to send
    answer = _answer(idp, visitor)
    assert _xml(answer.saml_response).find(f".//{{{SAML}}}NameID").get("Format") == TRANSIENT
    refused = visitor.post(answer.saml_response, answer.relay_state)
    assert refused.status_code == 403 and "one-time identifier" in refused.get_data(as_text=True)
    assert _users() == []
    [denied] = _events("sso.sign_in")
    assert denied.outcome == "denied" and "set the provider's Immutable ID attribute" in denied.reason
    _set(runner, "--immutable-id-attribute", "mail")
    name_ids = []
    for browser in (visitor, Browser(client.application.test_client(), SLUG)):
        answer = _answer(idp, browser)
        name_ids.append(_xml(answer.saml_response).find(f".//{{{SAML}}}NameID").text)
        assert browser.post(answer.saml_response, answer.relay_state).status_code == 302
    assert name_ids[0] != name_ids[1] and all(n.startswith("_") for n in name_ids)  # a new one at each sign-in
    [user] = _users()
    assert user["external_id"] == "nina.novak@example.com"
    assert [e.outcome for e in _events("sso.sign_in")] == ["denied", "created", "unchanged"]


# --- signed AuthnRequests --------------------------------------------------------------------------------------

def test_it_verifies_our_signed_authn_request_and_refuses_an_unsigned_one(idp, provider, visitor, client, runner):
    _set(runner, "--sign-requests", "on")
    _trust_us(idp, client, **EMAIL_NAME_ID, **{"validate.authnrequest": True})
    login = visitor.client.get(f"/sso/{SLUG}/login")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(login.headers["Location"]).query)
    assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"] and query["Signature"]
    assert _sign_in(idp, visitor).status_code == 302 and visitor.signed_in_as()
    _set(runner, "--sign-requests", "off")
    refused = _answer(idp, Browser(client.application.test_client(), SLUG))
    # An error page for the person and no SAML Response for us, so the troubleshooting report's "the IdP refused our
    # unsigned AuthnRequest" (a status it reads in a Response) has nothing to read from SimpleSAMLphp.
    assert refused.saml_response is None and "no signature found on message" in refused.error


def test_a_request_signed_with_a_key_it_was_never_given_is_refused(idp, provider, visitor, client, runner):
    _set(runner, "--sign-requests", "on")
    _trust_us(idp, client, **EMAIL_NAME_ID, **{"validate.authnrequest": True})
    old_id = sp_keys.ensure_active_key().id
    assert runner.invoke(args=["sso", "sp-key", "rotate"]).exit_code == 0
    assert runner.invoke(args=["sso", "sp-key", "retire", str(old_id)]).exit_code == 0  # too early: nobody told it
    refused = _answer(idp, visitor)
    assert refused.saml_response is None and "Unable to validate signature on query string" in refused.error
    _trust_us(idp, client, **EMAIL_NAME_ID, **{"validate.authnrequest": True})
    assert _sign_in(idp, Browser(client.application.test_client(), SLUG)).status_code == 302


# --- encrypted assertions through our key rollover ---------------------------------------------------------------

def test_encrypted_assertions_sign_in_through_an_sp_key_rollover(idp, provider, client, runner, app, tmp_path):
    _set(runner, "--want-encrypted", "on", "--sign-requests", "on")
    encrypting = {**EMAIL_NAME_ID, "assertion.encryption": True, "validate.authnrequest": True}
    _trust_us(idp, client, **encrypting)
    old = sp_keys.ensure_active_key()
    old_id, old_fingerprint = old.id, old.fingerprint

    def signs_in() -> None:
        browser = Browser(app.test_client(), SLUG)
        answer = _answer(idp, browser)
        assert answer.saml_response, answer.error[:600]
        assert _xml(answer.saml_response).find(f"{{{SAML}}}EncryptedAssertion") is not None
        response = browser.post(answer.saml_response, answer.relay_state)
        assert response.status_code == 302 and browser.signed_in_as(), response.get_data(as_text=True)[:400]

    signs_in()
    report = tmp_path / "response.b64"
    report.write_text(_answer(idp, Browser(app.test_client(), SLUG)).saml_response)
    inspected = runner.invoke(args=["sso", "inspect", SLUG, "--json", "--file", str(report)])
    assert [c["label"] for c in json.loads(inspected.output)["checks"] if c["passed"] is False] == []
    assert runner.invoke(args=["sso", "sp-key", "rotate"]).exit_code == 0
    signs_in()  # SimpleSAMLphp still holds our old metadata: the old key signs and decrypts
    _trust_us(idp, client, **encrypting)  # it reads our new metadata: both keys
    assert len(sp_keys.published_certificates()) == 2
    signs_in()
    assert runner.invoke(args=["sso", "sp-key", "retire", str(old_id)]).exit_code == 0
    signs_in()  # the new key signs now, and SimpleSAMLphp already knows it
    _trust_us(idp, client, **encrypting)
    assert old_fingerprint not in [k["fingerprint"] for k in sp_keys.listing()]
    signs_in()
    assert [e.outcome for e in _events("sso.sign_in")] == ["created"] + ["unchanged"] * 4


# --- its own certificate rollover --------------------------------------------------------------------------------

def _refresh_on_its_own(app, client, provider_id: int) -> None:
    """Make the provider due (last refreshed a day and an hour ago) and let a page start the automatic refresh."""
    db.session.execute(db.update(IdentityProvider).where(IdentityProvider.id == provider_id)
                       .values(last_refreshed=utcnow() - timedelta(hours=25), refresh_claimed_at=None))
    db.session.commit()
    app.config["METADATA_CHECK_SECONDS"] = 0
    schedule = app.extensions["metadata_refresh"]
    schedule.next_check = None
    client.get("/login")
    schedule.thread.join(10)
    schedule.thread = None


def test_its_announced_certificate_rollover_is_picked_up_on_its_own_and_no_sign_in_fails(idp, provider, visitor,
                                                                                         client, app):
    _trust_us(idp, client, **EMAIL_NAME_ID)
    assert _sign_in(idp, visitor).status_code == 302
    old_key, old_cert = key_pair("simplesamlphp-idp")
    new_key, new_cert = key_pair("simplesamlphp-idp-2027")
    idp.set_idp_key(old_key, old_cert, next_cert_pem=new_cert)  # SimpleSAMLphp's new_certificate: published first
    _refresh_on_its_own(app, client, provider.id)
    [added] = _events("sso.metadata_refresh")
    assert added.details["trigger"] == "automatic" and "removed" not in added.summary
    assert "certificate added: O=Test IdP,CN=simplesamlphp-idp-2027" in added.summary
    idp.set_idp_key(new_key, new_cert)  # then it signs with the new key and stops publishing the old one
    # Signed with the new key before the next refresh: it was trusted since the first one, nobody is locked out.
    assert _sign_in(idp, Browser(app.test_client(), SLUG)).status_code == 302
    _refresh_on_its_own(app, client, provider.id)
    removed = _events("sso.metadata_refresh")[-1]
    assert "certificate removed: O=Test IdP,CN=simplesamlphp-idp ·" in removed.summary
    assert _sign_in(idp, Browser(app.test_client(), SLUG)).status_code == 302


def test_an_unannounced_key_change_is_refused_until_sso_refresh_reads_the_new_certificate(idp, provider, visitor,
                                                                                          client, runner, app):
    _trust_us(idp, client, **EMAIL_NAME_ID)
    idp.set_idp_key(*key_pair("simplesamlphp-idp-2027"))
    refused = _sign_in(idp, visitor)
    assert refused.status_code == 400 and visitor.signed_in_as() is None
    assert "signature" in _events("sso.rejected")[-1].reason
    refreshed = runner.invoke(args=["sso", "refresh", SLUG])
    assert refreshed.exit_code == 0 and "certificate added" in refreshed.output, refreshed.output
    [event] = _events("sso.metadata_refresh")
    assert event.details["trigger"] == "manual" and "certificate removed" in event.summary
    assert _sign_in(idp, Browser(app.test_client(), SLUG)).status_code == 302
