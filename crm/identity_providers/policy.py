"""What a provider lets JIT do, as frozen plain values: the policy provisioning plans with.

Plain Python (no Flask, no database): provisioning imports it, and tests build policies without an app.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crm.identity_providers.transforms import Transform, parse
from crm.search_keys import fold

if TYPE_CHECKING:
    from crm.identity_providers.models import AttributeMapping, IdentityProvider

LICENSES_ALL = "all"
LICENSES_SELECTED = "selected"
EVERY_LOGIN = "every_login"
FIRST_LOGIN = "first_login"

# "Link an existing account by": how a first sign-in finds a local account that is not bound to the provider yet.
LINK_BY_USERNAME, LINK_BY_EMAIL, LINK_NEVER = "username", "email", "never"
LINK_BY = (LINK_BY_USERNAME, LINK_BY_EMAIL, LINK_NEVER)

ENTRA_GROUPS_OVERAGE = "http://schemas.microsoft.com/claims/groups.link"


@dataclass(frozen=True)
class FieldRule:
    """One row of "SAML field name converters to contact field name"."""

    attribute: str
    field: str
    default: str | None
    every_login: bool
    transform: Transform | None = None


def field_rule(mapping: AttributeMapping) -> FieldRule:
    """The rule of one AttributeMapping row (its transform was checked when the row was saved)."""
    return FieldRule(mapping.saml_attribute, mapping.contact_field, mapping.default_value,
                     mapping.update_on == EVERY_LOGIN, parse(mapping.transform))


@dataclass(frozen=True)
class GroupRule:
    """One row of "SAML groups to user roles" (value folded for case-insensitive matching)."""

    attribute: str
    value_key: str
    role_id: int
    role_name: str


@dataclass(frozen=True)
class ProviderPolicy:
    """What JIT may do for users of one provider."""

    provider_id: int
    slug: str
    jit: bool
    user_type: str
    all_licenses: bool
    package_ids: tuple[int, ...]
    allowed_domains: frozenset[str]
    required_groups: frozenset[str]
    groups_attribute: str | None
    immutable_id_attribute: str | None
    field_rules: tuple[FieldRule, ...]
    group_rules: tuple[GroupRule, ...]
    link_by: str = LINK_BY_USERNAME

    @classmethod
    def from_provider(cls, provider: IdentityProvider) -> ProviderPolicy:
        """Read the provider's settings and mapping lookups."""
        return cls(
            # When the directory (SCIM) is where users come from, a SAML sign-in only authenticates: it creates
            # nobody and never overwrites what the directory manages.
            provider_id=provider.id, slug=provider.slug, jit=provider.jit_enabled and provider.users_from != "scim",
            user_type=provider.new_user_type,
            all_licenses=provider.license_policy == LICENSES_ALL,
            package_ids=tuple(p.id for p in provider.license_packages),
            allowed_domains=frozenset(fold(d) for d in provider.allowed_domains or ()),
            required_groups=frozenset(fold(g) for g in provider.required_groups or ()),
            groups_attribute=provider.groups_attribute or None,
            immutable_id_attribute=provider.immutable_id_attribute or None,
            field_rules=tuple(field_rule(m) for m in provider.attribute_mappings),
            group_rules=tuple(GroupRule(r.saml_attribute, r.value_key, r.role_id, r.role.name)
                              for r in provider.role_mappings),
            link_by=provider.link_by or LINK_BY_USERNAME,
        )

    @property
    def group_attributes(self) -> tuple[str, ...]:
        """Attributes that carry groups: the configured one and those the role rows name."""
        names = [self.groups_attribute] if self.groups_attribute else []
        return tuple(dict.fromkeys(names + [r.attribute for r in self.group_rules]))
