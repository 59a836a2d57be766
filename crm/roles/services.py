"""Roles and memberships."""
from __future__ import annotations

from sqlalchemy import select

from crm.audit import services as audit
from crm.auth.models import User
from crm.extensions import db
from crm.roles.models import MANUAL, Role, RoleMembership
from crm.search_keys import fold


class RoleError(ValueError):
    """A role action that cannot be done; the message is shown to the admin."""


def find_role(name: str) -> Role | None:
    """The role with this name (case-insensitive)."""
    return db.session.scalar(select(Role).where(Role.name_key == fold(name)))


def all_roles() -> list[Role]:
    """Every role, by name."""
    return list(db.session.scalars(select(Role).order_by(Role.name_key)))


def save_role(role: Role | None, name: str, description: str | None = None) -> Role:
    """Create or rename a role; names are unique case-insensitively."""
    name = (name or "").strip()
    if not name:
        raise RoleError("Enter a name.")
    clash = find_role(name)
    if clash is not None and clash is not role:
        raise RoleError(f'A role named "{clash.name}" already exists.')
    before = {"name": role.name, "description": role.description} if role else {}
    role = role or Role()
    role.name, role.description = name, (description or "").strip() or None
    db.session.add(role)
    db.session.flush()
    changes = audit.diff(before, {"name": role.name, "description": role.description})
    if changes:
        audit.record("role." + ("update" if before else "create"),
                     f"{'Changed' if before else 'Created'} role {role.name}", target=role, changes=changes)
    return role


def add_member(user: User, role: Role, source: str = MANUAL) -> bool:
    """Connect the user to the role; an admin's addition turns an SSO membership into a manual one."""
    membership = db.session.get(RoleMembership, (user.id, role.id))
    if membership is not None:
        if source == MANUAL and membership.source != MANUAL:
            membership.source = MANUAL
            audit.record("role.member_pin", f"{user.username} kept in {role.name} by an administrator",
                         target=user,
                         changes={"roles": {"before": f"{role.name} (sso)", "after": f"{role.name} (manual)"}})
            return True
        return False
    db.session.add(RoleMembership(user_id=user.id, role_id=role.id, source=source))
    db.session.flush()
    db.session.expire(user, ["memberships"])
    if source == MANUAL:
        audit.record("role.member_add", f"Added {user.username} to {role.name}", target=user,
                     changes={"roles": {"before": None, "after": role.name}})
    return True


def remove_member(user: User, role: Role) -> bool:
    """Disconnect the user from the role (the last administrator cannot be removed)."""
    membership = db.session.get(RoleMembership, (user.id, role.id))
    if membership is None:
        return False
    if role.grants_admin and _admin_count() <= 1 and user.active:
        raise RoleError(f"{user.username} is the last active administrator; add another one first.")
    db.session.delete(membership)
    db.session.flush()
    db.session.expire(user, ["memberships"])
    audit.record("role.member_remove", f"Removed {user.username} from {role.name}", target=user,
                 changes={"roles": {"before": role.name, "after": None}})
    return True


def _admin_count() -> int:
    stmt = (select(RoleMembership.user_id).join(Role).join(User, User.id == RoleMembership.user_id)
            .where(Role.grants_admin.is_(True), User.active.is_(True)).distinct())
    return len(db.session.scalars(stmt).all())
