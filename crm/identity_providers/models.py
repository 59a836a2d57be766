"""Single Sign On configuration: identity providers, their certificates and mapping lookups."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    false,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, validates

from crm.extensions import db
from crm.identity_providers.policy import EVERY_LOGIN, LICENSES_ALL, LINK_BY_USERNAME
from crm.licensing.models import LicensePackage
from crm.roles.models import Role
from crm.search_keys import fold, key_type
from crm.timeutil import utcnow

SSO_BINDING_REDIRECT = "redirect"
SSO_BINDING_POST = "post"
USERS_FROM_JIT, USERS_FROM_SCIM, USERS_FROM_BOTH = "jit", "scim", "both"
USERS_FROM = (USERS_FROM_JIT, USERS_FROM_SCIM, USERS_FROM_BOTH)
DEFAULT_CLOCK_SKEW, MAX_CLOCK_SKEW = 120, 300  # seconds
MAX_SESSION_HOURS = 720

provider_license_package = Table(
    "provider_license_package",
    db.metadata,
    Column("provider_id", ForeignKey("identity_provider.id", ondelete="CASCADE"), primary_key=True),
    Column("package_id", ForeignKey("license_package.id", ondelete="CASCADE"), primary_key=True),
)


class IdentityProvider(db.Model):
    """A SAML identity provider (Creatio: SsoIdentityProvider) and what JIT does with its users."""

    __tablename__ = "identity_provider"
    __table_args__ = (
        CheckConstraint("license_policy IN ('all', 'selected')", name="license_policy"),
        CheckConstraint("new_user_type IN ('employee', 'external')", name="new_user_type"),
        CheckConstraint("sso_binding IN ('redirect', 'post')", name="sso_binding"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    entity_id: Mapped[str] = mapped_column(String(500))
    sso_url: Mapped[str] = mapped_column(String(1000))
    sso_binding: Mapped[str] = mapped_column(String(10), default=SSO_BINDING_REDIRECT)
    slo_url: Mapped[str | None] = mapped_column(String(1000))
    # The IdP signs its logout messages: an unsigned LogoutRequest or LogoutResponse from it is refused.
    logout_signed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    jit_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    show_on_login: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_idp_initiated: Mapped[bool] = mapped_column(Boolean, default=False)
    license_policy: Mapped[str] = mapped_column(String(10), default=LICENSES_ALL)
    new_user_type: Mapped[str] = mapped_column(String(20), default="employee")
    allowed_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    required_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    groups_attribute: Mapped[str | None] = mapped_column(String(500))
    immutable_id_attribute: Mapped[str | None] = mapped_column(String(500))
    # "Link an existing account by" (policy.LINK_BY): a first sign-in links the unbound local account whose username
    # is the NameID, whose contact email is the mapped email attribute (unique, in the email domains), or none.
    link_by: Mapped[str] = mapped_column(String(10), default=LINK_BY_USERNAME, server_default=LINK_BY_USERNAME)
    # SCIM 2.0 provisioning (/scim/v2) for this provider's users, and where its users come from: "jit" (SAML
    # sign-in), "scim" (the directory pushes them; a sign-in only authenticates) or "both".
    scim_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    users_from: Mapped[str] = mapped_column(String(10), default=USERS_FROM_JIT, server_default=USERS_FROM_JIT)
    # "Require single sign-on for its users": its users (bound to it, or with a username or email in its email
    # domains, allowed_domains) cannot sign in with a password, break-glass administrators excepted (realms.py).
    enforce_sso: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When a Test Sign In through it last passed every check: enforcement needs one in the last hour.
    test_passed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Seat reclaim: a JIT user of this provider who has not signed in for this many days is deactivated as
    # dormant and their seats go back to the pool (`users deactivate-dormant`); None: never.
    dormant_days: Mapped[int | None] = mapped_column(Integer)
    # Metadata from a URL (crm/sso/refresh.py): fetched by "Refresh now", `sso refresh` and on its own once the last
    # refresh is older than CRM_METADATA_REFRESH_HOURS. A federation's metadata must verify with
    # metadata_signing_cert (PEM). The bookkeeping columns below are written with plain UPDATEs, so a refresh that
    # changes nothing leaves config_version (and every cache keyed on it) alone.
    metadata_url: Mapped[str | None] = mapped_column(String(1000))
    metadata_signing_cert: Mapped[str | None] = mapped_column(Text)
    last_refreshed: Mapped[datetime | None] = mapped_column(DateTime)
    refresh_claimed_at: Mapped[datetime | None] = mapped_column(DateTime)  # a worker refreshing it since then
    refresh_error: Mapped[str | None] = mapped_column(Text)  # why the last refresh failed; None when it worked
    # Sessions and time: the clock skew allowed on the assertion's times (0-300 s), the longest a session signed in
    # through this provider lasts (1-720 hours; None: the console's own maximum), and whether every sign-in asks the
    # IdP to authenticate the user again (ForceAuthn) instead of reusing the IdP's session.
    clock_skew_seconds: Mapped[int] = mapped_column(Integer, default=DEFAULT_CLOCK_SKEW,
                                                    server_default=str(DEFAULT_CLOCK_SKEW))
    session_max_hours: Mapped[int | None] = mapped_column(Integer)
    force_authn: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The login page's email goes to the IdP inside the AuthnRequest too (Subject/NameID), for IdPs that read it
    # there (Shibboleth, SimpleSAMLphp); every IdP gets it as the login_hint query parameter.
    hint_in_subject: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Our own keys towards this provider: sign the AuthnRequests (and logout messages) we send it with the active SP
    # key (an IdP with WantAuthnRequestsSigned refuses unsigned ones), and refuse an assertion that is not encrypted
    # (one encrypted for a key we publish is accepted whatever this says).
    sign_requests: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    want_encrypted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Bumped on every change of the provider or its rows (see _bump_config_version): caches key on it.
    config_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    certificates: Mapped[list[IdpCertificate]] = relationship(
        back_populates="provider", cascade="all, delete-orphan", order_by="IdpCertificate.not_after.desc()")
    attribute_mappings: Mapped[list[AttributeMapping]] = relationship(
        back_populates="provider", cascade="all, delete-orphan", order_by="AttributeMapping.id")
    role_mappings: Mapped[list[RoleMapping]] = relationship(
        back_populates="provider", cascade="all, delete-orphan", order_by="RoleMapping.id")
    license_packages: Mapped[list[LicensePackage]] = relationship(
        secondary=provider_license_package, order_by="LicensePackage.name_key")

    def __str__(self) -> str:
        return self.display_name


class IdpCertificate(db.Model):
    """An IdP signing certificate. Every one the IdP publishes is kept (Entra lists four); an expired one stays on
    the page, marked expired, and no sign-in is verified with it."""

    __tablename__ = "idp_certificate"
    __table_args__ = (UniqueConstraint("provider_id", "fingerprint_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_provider.id", ondelete="CASCADE"), index=True)
    pem: Mapped[str] = mapped_column(Text)
    fingerprint_sha256: Mapped[str] = mapped_column(String(95))
    subject: Mapped[str] = mapped_column(String(500))
    not_before: Mapped[datetime] = mapped_column(DateTime)
    not_after: Mapped[datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    provider: Mapped[IdentityProvider] = relationship(back_populates="certificates")

    def __str__(self) -> str:
        return f"{self.subject} (expires {self.not_after:%Y-%m-%d})"


class AttributeMapping(db.Model):
    """Lookup "SAML field name converters to contact field name": one SAML attribute to one contact field."""

    __tablename__ = "attribute_mapping"
    __table_args__ = (
        UniqueConstraint("provider_id", "contact_field"),
        CheckConstraint("update_on IN ('every_login', 'first_login')", name="update_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_provider.id", ondelete="CASCADE"), index=True)
    saml_attribute: Mapped[str] = mapped_column(String(500))
    contact_field: Mapped[str] = mapped_column(String(40))
    default_value: Mapped[str | None] = mapped_column(String(250))
    update_on: Mapped[str] = mapped_column(String(20), default=EVERY_LOGIN)
    # One value transform as typed (`lowercase`, `part:-:1`, `regex:^([^-]+)`, `join:, `: transforms.py), checked
    # when the row is saved; None: the first value as sent.
    transform: Mapped[str | None] = mapped_column(String(250))

    provider: Mapped[IdentityProvider] = relationship(back_populates="attribute_mappings")

    def __str__(self) -> str:
        return f"{self.saml_attribute} → {self.contact_field}"


class RoleMapping(db.Model):
    """Lookup "SAML groups to user roles": a group value in an attribute connects the user to a role."""

    __tablename__ = "role_mapping"
    __table_args__ = (UniqueConstraint("provider_id", "saml_attribute", "value_key", "role_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_provider.id", ondelete="CASCADE"), index=True)
    saml_attribute: Mapped[str] = mapped_column(String(500))
    value: Mapped[str] = mapped_column(String(500))
    value_key: Mapped[str] = mapped_column(key_type(500))
    role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"), index=True)

    provider: Mapped[IdentityProvider] = relationship(back_populates="role_mappings")
    role: Mapped[Role] = relationship(lazy="joined")

    @validates("value")
    def _keep_key(self, _key: str, value: str) -> str:
        value = value.strip()
        self.value_key = fold(value)
        return value

    def __str__(self) -> str:
        return f"{self.saml_attribute} = {self.value} → {self.role.name if self.role else self.role_id}"


_WATCHED = (IdentityProvider, IdpCertificate, AttributeMapping, RoleMapping, Role)


@event.listens_for(Session, "before_flush")
def _bump_config_version(session: Session, _context, _instances) -> None:
    """Every change to a provider, its certificates or mapping rows bumps its config_version (and a renamed or
    deleted role bumps every provider's), so what is cached from a configuration (SAML settings, the JIT policy)
    is never used after it changed, in any worker: they read config_version with the provider's row."""
    changed: dict[int, IdentityProvider] = {}
    every_provider = False
    dirty = [obj for obj in session.dirty if isinstance(obj, _WATCHED)]
    touched = [obj for obj in (*session.new, *session.deleted) if isinstance(obj, _WATCHED)]
    if not (dirty or touched):
        return  # a sign-in, a contact edit...: nothing that configures a provider
    with session.no_autoflush:
        for obj in touched + [obj for obj in dirty if session.is_modified(obj, include_collections=False)
                              or (isinstance(obj, IdentityProvider) and session.is_modified(obj))]:
            if isinstance(obj, IdentityProvider):
                if obj not in session.new:
                    changed[id(obj)] = obj
            elif isinstance(obj, Role):
                every_provider = every_provider or obj not in session.new
            else:
                provider = obj.__dict__.get("provider") or (
                    session.get(IdentityProvider, obj.provider_id) if obj.provider_id else None)
                if provider is not None:
                    changed[id(provider)] = provider
        if every_provider:
            changed |= {id(p): p for p in session.scalars(select(IdentityProvider))}
    for provider in changed.values():
        if provider not in session.new and provider not in session.deleted:
            provider.config_version = (provider.config_version or 0) + 1
