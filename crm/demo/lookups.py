"""The lookups every installation starts with (`crm init`)."""
from __future__ import annotations

from sqlalchemy import select

from crm.auth.permissions import ALL, EMPLOYEE_DEFAULTS
from crm.contacts.models import ContactType, Department
from crm.extensions import db
from crm.roles.models import Role, RolePermission
from crm.search_keys import fold

CONTACT_TYPES = ("Employee", "Customer", "Partner", "Supplier", "Contractor")
DEPARTMENTS = ("Sales", "Marketing", "Customer Service", "Finance", "IT", "Human Resources", "Management",
               "Operations", "Legal")
ADMIN_ROLE = "Administrators"
EMPLOYEES_ROLE = "All employees"


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
    """Contact types, departments, the Administrators role (every permission) and "All employees" (view, create and
    edit contacts and accounts); idempotent: a role that exists keeps the permissions an admin gave it."""
    added = ensure_named(ContactType, CONTACT_TYPES) + ensure_named(Department, DEPARTMENTS)
    for name, description, permissions in (
            (ADMIN_ROLE, "Administer the system: every permission.", ALL),
            (EMPLOYEES_ROLE, "Work with contacts and accounts: view, create and edit.", EMPLOYEE_DEFAULTS)):
        if db.session.scalar(select(Role).where(Role.name_key == fold(name))) is None:
            db.session.add(Role(name=name, description=description,
                                grants=[RolePermission(permission=p) for p in permissions]))
            added += 1
    db.session.commit()
    return added
