"""The lookups every installation starts with (`crm init`)."""
from __future__ import annotations

from sqlalchemy import select

from crm.contacts.models import ContactType, Department
from crm.extensions import db
from crm.roles.models import Role
from crm.search_keys import fold

CONTACT_TYPES = ("Employee", "Customer", "Partner", "Supplier", "Contractor")
DEPARTMENTS = ("Sales", "Marketing", "Customer Service", "Finance", "IT", "Human Resources", "Management",
               "Operations", "Legal")
ADMIN_ROLE = "Administrators"


def ensure_named(model, names, **extra) -> int:
    """Add the names that are missing; return how many were added."""
    existing = set(db.session.scalars(select(model.name_key)))
    added = 0
    for name in names:
        if fold(name) not in existing:
            db.session.add(model(name=name, **extra))
            added += 1
    return added


def load_lookups() -> int:
    """Contact types, departments and the Administrators role; idempotent."""
    added = ensure_named(ContactType, CONTACT_TYPES) + ensure_named(Department, DEPARTMENTS)
    admin_role = db.session.scalar(select(Role).where(Role.name_key == fold(ADMIN_ROLE)))
    if admin_role is None:
        db.session.add(Role(name=ADMIN_ROLE, description="Can use the administration pages.", grants_admin=True))
        added += 1
    db.session.commit()
    return added
