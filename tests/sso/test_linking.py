"""Linking existing accounts at a first sign-in, by the provider's "Link an existing account by": real signed
responses through the ACS."""
import pytest

from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.extensions import db
from crm.identity_providers import services as providers
from crm.users.models import UserIdentity
from tests import factories
from tests.sso.conftest import nina

OPAQUE = "00u1a2b3c4"  # a persistent NameID that is no username of ours


def _set(provider, **values) -> None:
    providers.save_provider(provider, providers.provider_values(provider) | values)
    db.session.commit()


def _binding(user_id: int) -> UserIdentity | None:
    return db.session.scalar(db.select(UserIdentity).where(UserIdentity.user_id == user_id))


def _last_refusal() -> AuditEvent:
    return db.session.scalars(db.select(AuditEvent).where(AuditEvent.outcome == "denied")
                              .order_by(AuditEvent.id.desc())).first()


def _users() -> int:
    return db.session.scalar(db.select(db.func.count(User.id)))


def test_email_linking_binds_the_one_local_account_with_that_email(visitor, entra):
    _set(entra, allowed_domains=["example.com"], link_by="email")
    local = factories.user("nnovak", password=None, email="Nina.Novak@example.com")
    count = _users()
    response = visitor.sign_in(name_id=OPAQUE, attributes=nina())
    assert response.status_code == 302 and visitor.signed_in_as() == str(local.id)
    assert _users() == count
    assert _binding(local.id).name_id == OPAQUE
    assert visitor.sign_in(name_id=OPAQUE, attributes=nina()).status_code == 302  # a returning user now


def test_email_linking_refuses_an_email_two_users_share(visitor, entra):
    _set(entra, allowed_domains=["example.com"], link_by="email")
    first = factories.user("nnovak", password=None, email="nina.novak@example.com")
    factories.user("nina2", password=None, email="NINA.NOVAK@example.com")
    count = _users()
    response = visitor.sign_in(name_id=OPAQUE, attributes=nina())
    assert response.status_code == 403 and visitor.signed_in_as() is None
    assert "More than one account has your email address" in response.get_data(as_text=True)
    assert "more than one user has the email nina.novak@example.com" in _last_refusal().reason
    assert _users() == count and _binding(first.id) is None


def test_email_linking_refuses_an_email_outside_the_email_domains(visitor, entra):
    _set(entra, allowed_domains=["contoso.com"], link_by="email")
    local = factories.user("nnovak", password=None, email="nina.novak@example.com")
    response = visitor.sign_in(name_id=OPAQUE, attributes=nina())
    assert response.status_code == 403 and _binding(local.id) is None
    assert "the sign-in email's domain example.com is not among its allowed domains" in _last_refusal().reason


def test_email_linking_never_takes_an_account_with_a_password(visitor, entra):
    _set(entra, allowed_domains=["example.com"], link_by="email")
    local = factories.user("nnovak", email="nina.novak@example.com")  # has a local password
    assert visitor.sign_in(name_id=OPAQUE, attributes=nina()).status_code == 403
    assert "an administrator must link it" in _last_refusal().reason and _binding(local.id) is None


def test_email_linking_refuses_a_username_the_email_does_not_point_to(visitor, entra):
    _set(entra, allowed_domains=["example.com"], link_by="email")
    named = factories.user("nina.novak@example.com", password=None, email="someone.else@example.com")
    assert visitor.sign_in(attributes=nina()).status_code == 403
    assert "links by email and the email nina.novak@example.com is not that user's" in _last_refusal().reason
    assert _binding(named.id) is None


def test_email_linking_creates_someone_new_when_nobody_has_the_email(visitor, entra):
    _set(entra, allowed_domains=["example.com"], link_by="email")
    count = _users()
    assert visitor.sign_in(name_id="nina.novak@example.com", attributes=nina()).status_code == 302
    assert _users() == count + 1


def test_never_refuses_and_tells_the_admin_to_link_by_hand(visitor, entra):
    _set(entra, allowed_domains=["example.com"], link_by="never")
    local = factories.user("nina.novak@example.com", password=None)
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 403 and visitor.signed_in_as() is None
    assert "does not link existing accounts by itself" in response.get_data(as_text=True)
    reason = _last_refusal().reason
    assert "links no existing account (Link an existing account by: never)" in reason
    assert "Users → the user → Single sign-on link" in reason
    assert _binding(local.id) is None


def test_never_still_creates_new_users(visitor, entra):
    _set(entra, link_by="never")
    count = _users()
    assert visitor.sign_in(attributes=nina()).status_code == 302 and _users() == count + 1


@pytest.mark.parametrize("values, message", [
    ({"link_by": "email"}, "Linking by email needs the provider's email domains"),
    ({"link_by": "sometimes"}, "Choose how existing accounts are linked: username, email, never."),
])
def test_bad_link_settings_are_refused(entra, values, message):
    with pytest.raises(providers.ProviderInvalid) as invalid:
        providers.save_provider(entra, providers.provider_values(entra) | values)
    assert invalid.value.errors["link_by"].startswith(message)


def test_the_dry_run_says_which_account_email_linking_would_take(entra):
    from crm.identity_providers.config import config_of
    from crm.sso import report as reports
    from tests.saml_signer import Spec, signed_response

    _set(entra, allowed_domains=["example.com"], link_by="email")
    local = factories.user("nnovak", password=None, email="nina.novak@example.com")
    report = reports.build_report(config_of(entra), signed_response(Spec(name_id=OPAQUE, attributes=nina(),
                                                                         in_response_to="_req-1")))
    assert report["dry_run"]["user"] == "Existing user nnovak would be linked to this provider"
    assert _binding(local.id) is None  # nothing provisioned
