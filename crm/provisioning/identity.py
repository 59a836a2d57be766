"""The value the SAML layer hands to provisioning."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType


@dataclass(frozen=True)
class SamlIdentity:
    """Who the IdP says signed in: NameID plus every attribute with all its values (read-only)."""

    idp_slug: str
    name_id: str
    name_id_format: str | None = None
    session_index: str | None = None
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    assertion_id: str | None = None

    def __post_init__(self) -> None:
        frozen = {str(k): tuple(str(v) for v in values) for k, values in dict(self.attributes).items()}
        object.__setattr__(self, "attributes", MappingProxyType(frozen))
        object.__setattr__(self, "name_id", self.name_id.strip(" \t\r\n"))

    def values(self, name: str | None) -> tuple[str, ...]:
        """All values of an attribute (names match exactly, case-sensitive); () when absent."""
        return self.attributes.get(name, ()) if name else ()

    def first(self, name: str | None) -> str | None:
        """The first non-blank value of an attribute, stripped, or None."""
        return next((v.strip() for v in self.values(name) if v.strip()), None)

    @property
    def transient(self) -> bool:
        """A one-time NameID (SAML 2.0 transient): a new random value at every sign-in, never a person's name."""
        return self.name_id_format == TRANSIENT

    def named(self, name_id: str) -> SamlIdentity:
        """The same identity under another NameID (the immutable id, when the IdP's NameID is transient)."""
        return replace(self, name_id=name_id)


TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
