"""Home realm discovery and enforced single sign-on with break-glass administrators and the lock-out guard."""
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from crm.users.models import UserIdentity
from tests import factories
from tests.conftest import csrf_token, login
from tests.saml_signer import Spec, signed_response
from tests.sso.conftest import nina


def _provider(slug: str) -> IdentityProvider:
    db.session.expire_all()
    return db.session.scalar(db.select(IdentityProvider).where(IdentityProvider.slug == slug))


@pytest.fixture
def contoso(entra):
    """Entra owns example.com and contoso.com."""
    entra.allowed_domains = ["example.com", "contoso.com"]
    db.session.commit()
    return entra


def _continue(client, identifier: str, **query):
    token = csrf_token(client, "/login")
    return client.post("/login", query_string=query, data={"csrf_token": token, "username": identifier})


def test_continue_sends_an_email_of_a_providers_domain_straight_to_it_with_the_hint(contoso, client):
    response = _continue(client, "nina.novak@contoso.com", next="/accounts")
    assert response.status_code == 302
    start = urlsplit(response.location)
    assert start.path == "/sso/entra/login"
    assert parse_qs(start.query) == {"next": ["/accounts"], "login_hint": ["nina.novak@contoso.com"]}
    at_idp = client.get(response.location)
    assert at_idp.status_code == 302 and parse_qs(urlsplit(at_idp.location).query)["login_hint"] == [
        "nina.novak@contoso.com"]  # the IdP fills the email in: nobody types it twice


def test_a_login_hint_or_idp_in_the_url_skips_the_question(contoso, client):
    assert urlsplit(client.get("/login?login_hint=kim@example.com").location).path == "/sso/entra/login"
    assert urlsplit(client.get("/login?idp=entra").location).path == "/sso/entra/login"
    unknown = client.get("/login?idp=nope").get_data(as_text=True)
    assert "No identity provider nope signs in here." in unknown and "Email or username" in unknown


def test_a_domain_nobody_owns_gets_the_password_form_and_two_owners_a_choice(contoso, client):
    page = _continue(client, "someone@elsewhere.org").get_data(as_text=True)
    assert 'type="password"' in page and 'value="someone@elsewhere.org"' in page
    factories.provider("okta", display_name="Okta").allowed_domains = ["contoso.com"]
    db.session.commit()
    choice = _continue(client, "nina@contoso.com").get_data(as_text=True)
    assert "Choose how" in choice and "Login via SSO (Contoso Entra ID)" in choice and "Login via SSO (Okta)" in choice
    assert "Sign in with a password" in choice


def _passed_test_sign_in(client, slug: str = "entra") -> None:
    """An admin's real Test Sign In through the provider, with a response that passes every check."""
    client.get(f"/sso/{slug}/login?test=1")
    with client.session_transaction() as session:
        request_id = session["saml_pending"]["id"]
    client.post(f"http://localhost/sso/{slug}/acs", data={
        "SAMLResponse": signed_response(Spec(attributes=nina(), in_response_to=request_id, slug=slug))})


def test_the_lock_out_guard_needs_a_passed_test_sign_in_and_a_break_glass_admin(contoso, admin, client, runner):
    refused = runner.invoke(args=["sso", "set", "entra", "--enforce", "on"])
    assert refused.exit_code == 1
    assert "Run a Test Sign In through Contoso Entra ID first" in refused.output
    assert "Mark a break-glass administrator" in refused.output and not _provider("entra").enforce_sso

    login(client, "admin", factories.PASSWORD)
    _passed_test_sign_in(client)
    assert _provider("entra").test_passed_at is not None
    still = runner.invoke(args=["sso", "set", "entra", "--enforce", "on"])
    assert still.exit_code == 1 and "Test Sign In" not in still.output and "break-glass" in still.output

    assert runner.invoke(args=["users", "break-glass", "admin", "on"]).exit_code == 0
    assert runner.invoke(args=["sso", "set", "entra", "--enforce", "on"]).exit_code == 0
    assert _provider("entra").enforce_sso
    assert '"break_glass": true' in runner.invoke(args=["users", "show", "admin", "--json"]).output


def test_a_failed_test_sign_in_does_not_count(contoso, admin, client):
    login(client, "admin", factories.PASSWORD)
    client.get("/sso/entra/login?test=1")
    client.post("http://localhost/sso/entra/acs", data={
        "SAMLResponse": signed_response(Spec(attributes=nina(), key_name="rotated-key"))})
    assert _provider("entra").test_passed_at is None


@pytest.fixture
def enforced(contoso, admin, client, runner):
    """Entra requires single sign-on; admin is a break-glass administrator."""
    login(client, "admin", factories.PASSWORD)
    _passed_test_sign_in(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/contacts")})
    assert runner.invoke(args=["users", "break-glass", "admin", "on"]).exit_code == 0
    assert runner.invoke(args=["sso", "set", "entra", "--enforce", "on"]).exit_code == 0
    return contoso


def test_enforced_users_get_no_password_path(enforced, app, runner):
    factories.user("kim@contoso.com")  # a local user with a password, in the provider's domain
    client = app.test_client()
    token = csrf_token(client, "/login")
    refused = client.post("/login", data={"csrf_token": token, "username": "kim@contoso.com",
                                          "password": factories.PASSWORD})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 403 and "Your organization signs in with Contoso Entra ID" in page
    assert "Login via SSO (Contoso Entra ID)" in page and "Sign in with a password" not in page
    assert runner.invoke(args=["users", "set-password", "kim@contoso.com"],
                         env={"CRM_NEW_PASSWORD": "a-long-enough-password"}).exit_code == 1
    bound = factories.user("lee@partner.org")  # bound to the provider: its domain does not matter
    bound.identity = UserIdentity(provider_id=enforced.id, name_id="lee@partner.org")
    db.session.commit()
    assert client.post("/login", data={"csrf_token": token, "username": "lee@partner.org",
                                       "password": factories.PASSWORD}).status_code == 403


def test_a_break_glass_sign_in_is_audited_and_every_admin_sees_it_for_a_week(enforced, app):
    other = factories.admin_user("second-admin")
    client = app.test_client()
    login(client, "admin", factories.PASSWORD)  # break-glass: the password still works
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "auth.break_glass_sign_in")).one()
    assert event.actor_name == "admin"
    second = app.test_client()
    login(second, other.username, factories.PASSWORD)
    page = second.get("/contacts").get_data(as_text=True)
    assert "Break-glass administrator admin signed in with a password" in page
    assert re.search(rf'href="/audit/{event.id}"', page)


def test_break_glass_rules(enforced, runner):
    factories.user("plain@example.org")
    not_admin = runner.invoke(args=["users", "break-glass", "plain@example.org", "on"])
    assert not_admin.exit_code == 1 and "not an active administrator" in not_admin.output
    last = runner.invoke(args=["users", "break-glass", "admin", "off"])
    assert last.exit_code == 1 and "last break-glass administrator" in last.output
    for n in range(2):
        factories.admin_user(f"glass{n}")
        assert runner.invoke(args=["users", "break-glass", f"glass{n}", "on"]).exit_code == 0
    factories.admin_user("glass3")
    fourth = runner.invoke(args=["users", "break-glass", "glass3", "on"])
    assert fourth.exit_code == 1 and "3 break-glass administrators already" in fourth.output
    assert runner.invoke(args=["users", "break-glass", "admin", "off"]).exit_code == 0
    assert not db.session.scalar(db.select(User.break_glass).where(User.username_key == "admin"))


def test_a_domain_belongs_to_one_enforcing_provider_only(enforced, runner, client):
    okta = factories.provider("okta", display_name="Okta")
    okta.allowed_domains = ["partner.org"]
    db.session.commit()
    login(client, "admin", factories.PASSWORD)
    _passed_test_sign_in(client, "okta")
    assert runner.invoke(args=["sso", "set", "okta", "--enforce", "on"]).exit_code == 0
    clash = runner.invoke(args=["sso", "set", "okta", "--email-domains", "partner.org,contoso.com"])
    assert clash.exit_code == 1 and "contoso.com is already an email domain of Contoso Entra ID" in clash.output
    assert _provider("okta").allowed_domains == ["partner.org"]


def _authn_request(location: str) -> str:
    import base64
    import zlib

    encoded = parse_qs(urlsplit(location).query)["SAMLRequest"][0]
    return zlib.decompress(base64.b64decode(encoded), -15).decode()


def test_the_hint_goes_in_the_authn_request_subject_where_the_provider_asks_for_it(contoso, client, runner):
    plain = client.get("/sso/entra/login?login_hint=kim@contoso.com")
    assert "Subject" not in _authn_request(plain.location)
    assert parse_qs(urlsplit(plain.location).query)["login_hint"] == ["kim@contoso.com"]

    assert runner.invoke(args=["sso", "set", "entra", "--hint-in-subject", "on"]).exit_code == 0
    asked = _authn_request(client.get("/sso/entra/login?login_hint=kim@contoso.com").location)
    assert "<saml:Subject>" in asked and ">kim@contoso.com</saml:NameID>" in asked
    assert "Subject" not in _authn_request(client.get("/sso/entra/login").location)  # no hint, no subject
    exported = runner.invoke(args=["sso", "export", "entra"]).output
    assert '"hint_in_subject": true' in exported
