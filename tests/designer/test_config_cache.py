"""What is cached from a provider's configuration (SAML settings, the JIT policy) is never used after a change:
every change of the provider, its certificates, mapping rows or a role it maps bumps config_version."""
from __future__ import annotations

from crm import create_app
from crm.extensions import db
from crm.identity_providers import mappings
from crm.identity_providers.certificates import parse_certificate
from crm.identity_providers.config import config_of
from crm.identity_providers.models import AttributeMapping
from crm.identity_providers.services import add_certificate, find_provider, remove_certificate
from crm.roles.services import save_role
from crm.sso.settings import cached_settings
from tests import factories
from tests.saml_keys import key_pair


def _version(slug: str = "entra") -> int:
    db.session.expire_all()
    return find_provider(slug).config_version


def cached_policy(provider):
    """The JIT policy the sign-in would use now (from the provider's cached configuration)."""
    return config_of(provider).policy


def test_a_mapping_row_change_reaches_the_cached_policy(app):
    provider = factories.provider()
    before = cached_policy(provider)
    assert cached_policy(provider) is before  # reused while nothing changes
    mappings.save_attribute_mapping(provider, None, "http://claims/dept", "department", None)
    db.session.commit()
    after = cached_policy(find_provider("entra"))
    assert after is not before
    assert [r.field for r in after.field_rules] == ["department"]


def test_rows_added_or_deleted_by_plain_orm_code_bump_the_version(app):
    provider = factories.provider()
    version = _version()
    db.session.add(AttributeMapping(provider_id=provider.id, saml_attribute="mail", contact_field="email"))
    db.session.commit()
    assert _version() == version + 1
    db.session.delete(db.session.scalar(db.select(AttributeMapping)))
    db.session.commit()
    assert _version() == version + 2
    provider = find_provider("entra")
    provider.jit_enabled = False
    db.session.commit()
    assert _version() == version + 3
    assert cached_policy(find_provider("entra")).jit is False


def test_a_removed_certificate_leaves_the_cached_settings(app):
    provider = factories.provider()
    add_certificate(provider, parse_certificate(key_pair("other-idp")[1]))
    db.session.commit()
    both = cached_settings(config_of(find_provider("entra")))
    assert len(both.get_idp_data()["x509certMulti"]["signing"]) == 2
    provider = find_provider("entra")
    remove_certificate(provider, next(c for c in provider.certificates if "other" in c.subject.lower()
                                      or c.fingerprint_sha256 != provider.certificates[0].fingerprint_sha256))
    db.session.commit()
    one = cached_settings(config_of(find_provider("entra")))
    assert one is not both
    assert len(one.get_idp_data()["x509certMulti"]["signing"]) == 1


def test_renaming_a_mapped_role_bumps_every_provider(app):
    factories.provider("entra")
    factories.provider("okta")
    role = factories.role("Sales")
    mappings.add_role_mapping(find_provider("entra"), "groups", "sales", role)
    db.session.commit()
    versions = (_version("entra"), _version("okta"))
    save_role(role, "Sales EMEA")
    db.session.commit()
    assert (_version("entra"), _version("okta")) == (versions[0] + 1, versions[1] + 1)
    assert cached_policy(find_provider("entra")).group_rules[0].role_name == "Sales EMEA"


def test_a_change_made_by_another_worker_is_seen(app, tmp_path):
    """Two app instances on one database stand for two gunicorn workers, each with its own cache."""
    provider = factories.provider()
    other = create_app({**{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "BASE_URL", "SECRET_KEY")},
                        "TESTING": True, "INSTANCE_PATH": str(tmp_path / "other")})
    with other.app_context():
        assert cached_policy(find_provider("entra")).jit is True
    provider.jit_enabled = False
    db.session.commit()
    with other.app_context():
        assert cached_policy(find_provider("entra")).jit is False
        db.session.remove()
        db.engine.dispose()


def test_users_seats_and_memberships_leave_the_version_alone(app):
    """What sign-ins write (users, seats, role memberships) is not configuration: the caches stay warm."""
    from crm.licensing.services import take_seat
    from crm.roles.services import add_member

    factories.provider()
    version = _version()
    user, package, role = factories.user("nina"), factories.package("Sales Creatio", 5), factories.role("Sales")
    take_seat(user, package, "sso")
    add_member(user, role)
    db.session.commit()
    assert _version() == version
