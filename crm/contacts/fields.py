"""The contact's mappable fields: the keys forms, the CLI and the SSO mapping all use.

These keys are the "Contact field name" values of the lookup "SAML field name converters to contact
field name". Lookup fields (account, type, department) take and show a display name.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ContactField:
    """One mappable contact column."""

    key: str
    label: str
    max_length: int | None = None
    lookup: str | None = None  # "account", "type" or "department" for columns set by name


CONTACT_FIELDS: tuple[ContactField, ...] = (
    ContactField("given_name", "Given name", 100),
    ContactField("surname", "Surname", 100),
    ContactField("full_name", "Full name", 250),
    ContactField("email", "Email", 254),
    ContactField("phone", "Business phone", 50),
    ContactField("mobile_phone", "Mobile phone", 50),
    ContactField("job_title", "Job title", 150),
    ContactField("department", "Department", 100, lookup="department"),
    ContactField("account", "Account", 200, lookup="account"),
    ContactField("type", "Type", 100, lookup="type"),
    ContactField("city", "City", 100),
    ContactField("notes", "Notes", 4000),
)
FIELDS_BY_KEY = {f.key: f for f in CONTACT_FIELDS}
FIELD_KEYS = tuple(FIELDS_BY_KEY)
