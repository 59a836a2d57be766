"""The identity resolver: one function for every way in, standing on the database's unique keys."""
from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from crm.extensions import db
from crm.provisioning.resolver import Resolution, resolve
from crm.users.models import UserIdentity
from tests import factories


@pytest.fixture
def bound(app):
    """Provider "entra" and a user bound to it as nina@example.com with immutable id "oid-1"."""
    provider = factories.provider()
    user = factories.user("nina@example.com")
    db.session.add(UserIdentity(user=user, provider_id=provider.id, name_id="nina@example.com", immutable_id="oid-1"))
    db.session.commit()
    return provider, user


@pytest.mark.parametrize("clash", [
    {"name_id": "other@example.com", "name_id_key": "other@example.com", "immutable_id": "oid-1"},  # same person
    {"name_id": "NINA@example.com", "name_id_key": "nina@example.com", "immutable_id": "oid-2"},  # same NameID
])
def test_one_person_can_never_be_bound_twice_to_one_provider(bound, clash):
    provider, _ = bound
    other = factories.user("someone@example.com")
    with pytest.raises(IntegrityError):
        db.session.execute(insert(UserIdentity.__table__).values(user_id=other.id, provider_id=provider.id, **clash))
    db.session.rollback()


def test_the_immutable_id_wins_over_a_reassigned_name_id(bound):
    provider, user = bound
    conn = db.session.connection()
    assert resolve(conn, provider.id, provider.slug, "renamed@example.com", "oid-1").state.user_id == user.id
    refused = resolve(conn, provider.id, provider.slug, "nina@example.com", "oid-9")
    assert refused.state is None and refused.refusal.code == "username_taken"
    assert resolve(conn, provider.id, provider.slug, "new@example.com", "oid-7").state is None  # someone new


@pytest.fixture
def okta(app):
    """Provider "okta" with email domains, and an unbound local user "ann" whose contact email is ann@example.com."""
    provider = factories.provider("okta", allowed_domains=["example.com"])
    user = factories.user("ann", password=None, email="Ann@Example.com")
    return provider, user


def _resolve(provider, name_id, link_by, email="ann@example.com"):
    return resolve(db.session.connection(), provider.id, provider.slug, name_id, None, link_by=link_by, email=email)


def test_link_by_username_finds_only_the_user_named_after_the_name_id(okta):
    provider, user = okta
    assert _resolve(provider, "ANN", "username").state.user_id == user.id
    assert _resolve(provider, "00u-ann", "username").state is None  # the email is not looked at


def test_link_by_email_finds_the_one_user_with_that_email(okta):
    provider, user = okta
    found = _resolve(provider, "00u-ann", "email", "ANN@example.COM")
    assert found.state.user_id == user.id and not found.state.bound and found.refusal is None
    assert _resolve(provider, "00u-ann", "email", None).state is None  # no email sent: someone new
    assert _resolve(provider, "00u-bob", "email", "bob@example.com").state is None


def test_link_by_email_refuses_a_shared_email_a_bound_user_and_a_password(okta):
    provider, user = okta
    other = factories.user("ann2", password=None, email="ann@example.com")
    assert _resolve(provider, "00u-ann", "email").refusal.code == "link_ambiguous"
    db.session.delete(other)
    entra = factories.provider("entra")
    db.session.add(UserIdentity(user=user, provider_id=entra.id, name_id="ann@entra"))
    db.session.commit()
    assert _resolve(provider, "00u-ann", "email").refusal.code == "other_idp"
    factories.user("bea", email="bea@example.com")  # has a password
    assert _resolve(provider, "00u-bea", "email", "bea@example.com").refusal.code == "username_taken"


def test_link_by_email_keeps_a_returning_user_to_one_statement(okta):
    provider, user = okta
    db.session.add(UserIdentity(user=user, provider_id=provider.id, name_id="00u-ann"))
    db.session.commit()
    statements = []
    engine, conn, provider_id = db.session.get_bind(), db.session.connection(), provider.id
    from sqlalchemy import event

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        found = resolve(conn, provider_id, "okta", "00u-ann", None, link_by="email", email="ann@example.com")
        assert found.state.bound
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1, statements


def test_link_never_refuses_the_user_named_after_the_name_id_and_lets_someone_new_in(okta):
    provider, _ = okta
    refused = _resolve(provider, "ann", "never")
    assert refused.state is None and refused.refusal.code == "link_never"
    assert "an administrator links it" in refused.refusal.reason
    assert _resolve(provider, "00u-new", "never") == Resolution()
