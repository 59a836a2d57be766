"""Claim-name presets: what the big IdPs send by default (PRODUCT.md's table)."""
from __future__ import annotations

from dataclasses import dataclass

from crm.identity_providers.policy import EVERY_LOGIN, FIRST_LOGIN

XMLSOAP = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
MS_CLAIMS = "http://schemas.microsoft.com/identity/claims/"


@dataclass(frozen=True)
class PresetRow:
    """One mapping row a preset adds."""

    attribute: str
    field: str
    default: str | None = None
    update_on: str = EVERY_LOGIN


@dataclass(frozen=True)
class Preset:
    """A named set of mapping rows plus the provider's group and immutable-id attributes."""

    key: str
    label: str
    rows: tuple[PresetRow, ...]
    groups_attribute: str
    immutable_id_attribute: str | None = None


def _type_default(attribute: str) -> PresetRow:
    # Creatio's example: every contact created through SSO gets Type = "Employee" unless the IdP says otherwise.
    return PresetRow(attribute, "type", "Employee", FIRST_LOGIN)


_ENTRA_ROWS = (
    PresetRow(XMLSOAP + "emailaddress", "email"),
    PresetRow(XMLSOAP + "givenname", "given_name"),
    PresetRow(XMLSOAP + "surname", "surname"),
    PresetRow(MS_CLAIMS + "displayname", "full_name"),
    _type_default(XMLSOAP + "employeetype"),
)

PRESETS: dict[str, Preset] = {
    "entra": Preset("entra", "Microsoft Entra ID", _ENTRA_ROWS,
                    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", MS_CLAIMS + "objectidentifier"),
    "adfs": Preset("adfs", "AD FS", _ENTRA_ROWS, "http://schemas.xmlsoap.org/claims/Group"),
    "okta": Preset("okta", "Okta", (PresetRow("email", "email"), PresetRow("firstName", "given_name"),
                                    PresetRow("lastName", "surname"), _type_default("employeeType")), "groups"),
    "onelogin": Preset("onelogin", "OneLogin", (PresetRow("Email", "email"), PresetRow("FirstName", "given_name"),
                                                PresetRow("LastName", "surname"), _type_default("EmployeeType")),
                       "memberOf"),
    "google": Preset("google", "Google Workspace", (PresetRow("email", "email"), PresetRow("firstName", "given_name"),
                                                    PresetRow("lastName", "surname"), _type_default("employeeType")),
                     "groups"),
    "shibboleth": Preset("shibboleth", "Shibboleth", (
        PresetRow("urn:oid:0.9.2342.19200300.100.1.3", "email"),
        PresetRow("urn:oid:2.5.4.42", "given_name"),
        PresetRow("urn:oid:2.5.4.4", "surname"),
        PresetRow("urn:oid:2.16.840.1.113730.3.1.241", "full_name"),
        PresetRow("urn:oid:2.5.4.11", "department"),
        _type_default("urn:oid:2.16.840.1.113730.3.1.4"),
    ), "urn:oid:1.3.6.1.4.1.5923.1.5.1.1"),
}
