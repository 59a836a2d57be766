"""The small name-only lookups the System Designer edits (Contact types, Departments)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from crm.audit import services as audit
from crm.contacts.models import Contact, ContactType, Department
from crm.extensions import db
from crm.search_keys import fold


@dataclass(frozen=True)
class Lookup:
    """A lookup's model, its contact column and how the pages name it."""

    slug: str
    model: type
    column: str
    title: str
    singular: str
    description: str


LOOKUPS = {
    "contact-types": Lookup("contact-types", ContactType, "type_id", "Contact types", "contact type",
                            "What a contact is to you: Employee, Customer, Partner, Supplier."),
    "departments": Lookup("departments", Department, "department_id", "Departments", "department",
                          "Where a contact works in their company. SSO can fill it from the IdP."),
}


class LookupInvalid(ValueError):
    """The lookup value cannot be saved."""


def rows(lookup: Lookup) -> list[tuple]:
    """Every value with the number of contacts using it."""
    used = (select(func.count(Contact.id)).where(getattr(Contact, lookup.column) == lookup.model.id)
            .correlate(lookup.model).scalar_subquery())
    return db.session.execute(select(lookup.model, used).order_by(lookup.model.name_key)).all()


def save(lookup: Lookup, item, name: str, description: str | None):
    """Create or change a value; names are unique case-insensitively."""
    name = (name or "").strip()
    if not name:
        raise LookupInvalid("Enter a name.")
    clash = db.session.scalar(select(lookup.model).where(lookup.model.name_key == fold(name)))
    if clash is not None and clash is not item:
        raise LookupInvalid(f'A {lookup.singular} named "{clash.name}" already exists.')
    before = {"name": item.name, "description": item.description} if item else {}
    item = item or lookup.model()
    item.name, item.description = name, (description or "").strip() or None
    db.session.add(item)
    db.session.flush()
    changes = audit.diff(before, {"name": item.name, "description": item.description})
    if changes:
        verb = "Changed" if before else "Created"
        audit.record(f"lookup.{'update' if before else 'create'}", f"{verb} {lookup.singular} {item.name}",
                     target=item, changes=changes)
    return item
