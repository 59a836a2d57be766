"""What a role may let its members do (Creatio's operation permissions). Plain names, kept on roles (crm.roles) and
checked here, on every view and every htmx partial, through the signed-in user's roles."""
from __future__ import annotations

CONTACTS_VIEW, CONTACTS_CREATE, CONTACTS_EDIT, CONTACTS_DELETE = (
    "contacts.view", "contacts.create", "contacts.edit", "contacts.delete")
ACCOUNTS_VIEW, ACCOUNTS_CREATE, ACCOUNTS_EDIT, ACCOUNTS_DELETE = (
    "accounts.view", "accounts.create", "accounts.edit", "accounts.delete")
ADMINISTER = "system.administer"

# (section, [(permission, label)]) in the order the role page shows them.
SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Contacts", ((CONTACTS_VIEW, "View"), (CONTACTS_CREATE, "Create"), (CONTACTS_EDIT, "Edit"),
                  (CONTACTS_DELETE, "Delete"))),
    ("Accounts", ((ACCOUNTS_VIEW, "View"), (ACCOUNTS_CREATE, "Create"), (ACCOUNTS_EDIT, "Edit"),
                  (ACCOUNTS_DELETE, "Delete"))),
    ("System", ((ADMINISTER, "Administer the system (users, roles, licenses, System Designer, audit)"),)),
)
ALL: tuple[str, ...] = tuple(name for _, perms in SECTIONS for name, _ in perms)
LABELS = {name: f"{section}: {label}" for section, perms in SECTIONS for name, label in perms}
EMPLOYEE_DEFAULTS = (CONTACTS_VIEW, CONTACTS_CREATE, CONTACTS_EDIT, ACCOUNTS_VIEW, ACCOUNTS_CREATE, ACCOUNTS_EDIT)
LICENSED = frozenset(ALL) - {ADMINISTER}  # working with the CRM's records needs a license seat


def effective(granted: frozenset[str] | set[str], has_seat: bool) -> frozenset[str]:
    """What a user may do with these permissions from their roles: administering gives every permission; working
    with records needs a license seat (administration does not, so no one can lock the console out of its repair)."""
    granted = frozenset(ALL) if ADMINISTER in granted else frozenset(granted)
    return granted if has_seat else granted - LICENSED
