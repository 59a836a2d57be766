"""Roles and memberships."""
from __future__ import annotations

from sqlalchemy import Select, select

from crm.audit import services as audit
from crm.auth.models import User
from crm.auth.permissions import ADMINISTER, ALL
from crm.auth.sessions import end_sessions_after_change
from crm.extensions import db
from crm.roles.models import MANUAL, Role, RoleMembership, RolePermission
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
        end_sessions_after_change(user)
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
    end_sessions_after_change(user)
    audit.record("role.member_remove", f"Removed {user.username} from {role.name}", target=user,
                 changes={"roles": {"before": role.name, "after": None}})
    return True


def active_admins() -> Select:
    """The ids of the active users one of whose roles administers the system."""
    return (select(RoleMembership.user_id)
            .join(RolePermission, RolePermission.role_id == RoleMembership.role_id)
            .join(User, User.id == RoleMembership.user_id)
            .where(RolePermission.permission == ADMINISTER, User.active.is_(True)).distinct())


def _admin_count() -> int:
    return len(db.session.scalars(active_admins()).all())


def set_permissions(role: Role, permissions: set[str] | frozenset[str]) -> dict:
    """Give the role exactly these permissions (names from crm.auth.permissions) and audit the change; taking
    administration from the role that the last active administrator holds it through is refused."""
    unknown = set(permissions) - set(ALL)
    if unknown:
        raise RoleError(f"Unknown permission {', '.join(sorted(unknown))}; choose from: {', '.join(ALL)}.")
    before = role.permissions
    if ADMINISTER in before and ADMINISTER not in permissions and _admins_without(role) == 0:
        raise RoleError(f"{role.name} makes the last active administrator one; give administration to another role "
                        "of theirs, or make someone else an administrator first.")
    role.grants = [g for g in role.grants if g.permission in permissions] + [
        RolePermission(permission=p) for p in sorted(set(permissions) - before)]
    db.session.flush()
    changes = {"permissions": {"before": _in_order(before), "after": _in_order(role.permissions)}} \
        if before != role.permissions else {}
    if changes:
        audit.record("role.permissions", f"Changed the permissions of role {role.name}", target=role, changes=changes)
    return changes


def grant(role: Role, permission: str) -> bool:
    """Add one permission to the role; False when it had it."""
    return bool(set_permissions(role, role.permissions | {permission}))


def revoke(role: Role, permission: str) -> bool:
    """Take one permission from the role; False when it did not have it."""
    if permission not in ALL:
        raise RoleError(f"Unknown permission {permission}; choose from: {', '.join(ALL)}.")
    return bool(set_permissions(role, role.permissions - {permission}))


def role_json(role: Role) -> dict:
    """The role as `roles show --json` prints it."""
    return {"name": role.name, "description": role.description, "permissions": _in_order(role.permissions),
            "members": len(role.memberships)}


def _in_order(permissions: frozenset[str]) -> list[str]:
    return [p for p in ALL if p in permissions]


def _admins_without(role: Role) -> int:
    """Active administrators left if this role stopped administering."""
    return len(db.session.scalars(active_admins().where(RoleMembership.role_id != role.id)).all())
