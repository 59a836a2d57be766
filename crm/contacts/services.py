"""Contacts: reading and writing by field key, lookups resolved by name, search for the list page."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select

from crm.audit import services as audit
from crm.contacts.fields import CONTACT_FIELDS, FIELDS_BY_KEY
from crm.contacts.listing import ContactList
from crm.contacts.models import Account, Contact, ContactType, Department
from crm.contacts.search import Search
from crm.extensions import db
from crm.pagination import SeekPage, Window
from crm.search_keys import fold, prefix_range

LOOKUP_MODELS: dict[str, type] = {"account": Account, "type": ContactType, "department": Department}
LOOKUP_COLUMNS = {"account": "account_id", "type": "type_id", "department": "department_id"}
SORTS = {
    "name": (Contact.name_key, Contact.id),
    "email": (Contact.email_key, Contact.id),
    "created": (Contact.created_at, Contact.id),
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ContactInvalid(ValueError):
    """Values that cannot be saved; `errors` maps field keys to messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def find_lookup(field: str, name: str | None):
    """The Account, Contact type or Department with this name (case-insensitive), or None."""
    if not name or not name.strip():
        return None
    model = LOOKUP_MODELS[field]
    return db.session.scalar(select(model).where(model.name_key == fold(name)))


def lookup_names(field: str, limit: int = 50) -> list[str]:
    """Names that exist for a lookup field, sorted, for choices and error messages."""
    model = LOOKUP_MODELS[field]
    return list(db.session.scalars(select(model.name).order_by(model.name_key).limit(limit)))


def contact_values(contact: Contact) -> dict[str, Any]:
    """The contact as {field key: value}, lookups shown by name."""
    values = {}
    for field in CONTACT_FIELDS:
        value = getattr(contact, field.key)
        values[field.key] = value.name if field.lookup and value is not None else value
    return values


def validate_values(values: dict[str, Any]) -> dict[str, Any]:
    """Clean the values and resolve lookup names; raise ContactInvalid naming each bad field."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for key, raw in values.items():
        field = FIELDS_BY_KEY.get(key)
        if field is None:
            errors[key] = "is not a contact field"
            continue
        value = raw.strip() if isinstance(raw, str) else raw
        value = value or None
        if value is not None and field.max_length and len(value) > field.max_length:
            errors[key] = f"is longer than {field.max_length} characters"
        elif field.lookup and value is not None:
            found = find_lookup(field.lookup, value)
            if found is None:
                errors[key] = _unknown_lookup_message(field.lookup, value)
            clean[key] = found
        elif key == "email" and value is not None and not _EMAIL.match(value):
            errors[key] = "Enter a valid email address."
        else:
            clean[key] = value
    if errors:
        raise ContactInvalid(errors)
    return clean


def _unknown_lookup_message(field: str, value: str) -> str:
    if field == "account":
        return f'No account is named "{value}". Create it under Accounts first.'
    names = lookup_names(field)
    return f'"{value}" is not a {FIELDS_BY_KEY[field].label.lower()}. Choose one of: {", ".join(names)}.'


def apply_values(contact: Contact, clean: dict[str, Any]) -> None:
    """Set validated values on the contact; the full name follows given name and surname if blank."""
    for key, value in clean.items():
        setattr(contact, key, value)
    if not contact.full_name:
        contact.full_name = " ".join(p for p in (contact.given_name, contact.surname) if p)


def create_contact(values: dict[str, Any]) -> Contact:
    """Create a contact from field values and audit it (the caller commits)."""
    clean = validate_values(values)
    contact = Contact()
    apply_values(contact, clean)
    if not contact.full_name:
        raise ContactInvalid({"full_name": "Enter a full name, or a given name and surname"})
    db.session.add(contact)
    db.session.flush()
    audit.record("contact.create", f"Created contact {contact.full_name}", target=contact,
                 changes=audit.diff({}, _without_empty(contact_values(contact))))
    return contact


def update_contact(contact: Contact, values: dict[str, Any]) -> dict[str, Any]:
    """Change a contact's fields; audit only what changed and return those changes."""
    before = contact_values(contact)
    apply_values(contact, validate_values(values))
    if not contact.full_name:
        raise ContactInvalid({"full_name": "Enter a full name, or a given name and surname"})
    changes = audit.diff(before, contact_values(contact))
    if changes:
        audit.record("contact.update", f"Changed contact {contact.full_name}", target=contact, changes=changes)
    return changes


def delete_contact(contact: Contact) -> None:
    """Delete a contact that no user is linked to (a user's contact goes with the user)."""
    from crm.auth.models import User

    owner = db.session.scalar(select(User).where(User.contact_id == contact.id))
    if owner is not None:
        raise ContactInvalid({"contact": f"This contact belongs to user {owner.username}; "
                                         "deactivate the user instead."})
    audit.record("contact.delete", f"Deleted contact {contact.full_name}", target=contact,
                 changes=audit.diff(_without_empty(contact_values(contact)), {}))
    db.session.delete(contact)


def _without_empty(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, "")}


def _matches(contact, q: str) -> ColumnElement[bool]:
    """The name, surname, email or account name starts with the folded q (`contact`: the entity or a subquery)."""
    accounts = select(Account.id).where(prefix_range(Account.name_key, q))
    return or_(
        prefix_range(contact.name_key, q),
        prefix_range(contact.surname_key, q),
        prefix_range(contact.email_key, q),
        contact.account_id.in_(accounts),
    )


def _order(contact, sort: str, descending: bool) -> list:
    columns = (getattr(contact, c.key) for c in SORTS.get(sort, SORTS["name"]))
    return [c.desc() if descending else c.asc() for c in columns]


def search_statement(q: str = "", sort: str = "name", descending: bool = False) -> Select:
    """Contacts whose name, surname, email or account name starts with q, in index order."""
    stmt = select(Contact)
    q = fold(q)
    if q:
        stmt = stmt.where(_matches(Contact, q))
    return stmt.order_by(*_order(Contact, sort, descending))


EVERY_ACCOUNT = object()  # `within` (contacts) or `only` (accounts) for a user who sees every account


def search_contacts(q: str, sort: str, descending: bool, page: int | Window, per_page: int,
                    within: int | None | object = EVERY_ACCOUNT) -> SeekPage:
    """One page of the contact list: a search, a sort and a place in the list (a page number or a Window); `within`
    an account's id keeps to that account's contacts (None: no account, so none)."""
    window = page if isinstance(page, Window) else Window(page=max(page, 1))
    key = fold(q)
    found = Search.prefix(key) if key else None
    if within is not EVERY_ACCOUNT:
        found = found.within(within) if found else Search.at_account(within)
    return ContactList.of(found, sort, descending, per_page).page(window)


def account_contacts(account_id: int, window: Window, per_page: int) -> SeekPage:
    """One page of an account's contacts, by name: paged and counted as the contact list is."""
    return ContactList.of(Search.at_account(account_id), "name", False, per_page).page(window)
