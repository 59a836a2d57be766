"""The mapping previewed against the last sign-in attempt: what each row (and its transform) makes of the values
the IdP sent, computed by the planner's own function, so the page shows what a sign-in would write."""
from __future__ import annotations

from dataclasses import dataclass

from crm.identity_providers.config import config_of
from crm.identity_providers.models import AttributeMapping, IdentityProvider
from crm.identity_providers.policy import field_rule
from crm.provisioning.identity import SamlIdentity
from crm.provisioning.planner import mapped_value
from crm.sso.attempts import recent_attempts
from crm.sso.models import SignInAttempt
from crm.sso.report import latest_identity


@dataclass(frozen=True)
class RowPreview:
    """One row against the attempt: the value sent, what the row makes of it, and why it made nothing."""

    sent: str | None  # the values as sent (joined with ", " when several), None when the attribute was not sent
    result: str | None
    default: str | None  # the row's default, used when result is None
    note: str | None = None


@dataclass(frozen=True)
class MappingPreview:
    """The attempt the page previews against, and its identity."""

    attempt: SignInAttempt
    identity: SamlIdentity

    def row(self, mapping: AttributeMapping) -> RowPreview:
        """What this row makes of the attempt's attributes."""
        values = self.identity.values(mapping.saml_attribute)
        result, note = mapped_value(self.identity, field_rule(mapping))
        return RowPreview(", ".join(values) if values else None, result, mapping.default_value, note)


def mapping_preview(provider: IdentityProvider) -> MappingPreview | None:
    """The last sign-in attempt whose attributes can be read, or None when there is none (in the last 7 days)."""
    found = latest_identity(config_of(provider), recent_attempts(provider.id))
    return MappingPreview(*found) if found else None
