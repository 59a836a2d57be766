"""The identity resolver: one function for every way in, standing on the database's unique keys."""
from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from crm.extensions import db
from crm.provisioning.resolver import resolve
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
