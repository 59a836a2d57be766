"""Users: create, activate/deactivate, search, and the JSON the CLI prints."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import selectinload

from crm.audit import services as audit
from crm.auth.models import USER_TYPES, User
from crm.auth.passwords import WeakPassword, password_problem
from crm.auth.services import find_by_username
from crm.auth.sessions import end_sessions, end_sessions_after_change, live_sessions
from crm.contacts.models import Contact
from crm.contacts.services import contact_values
from crm.extensions import db
from crm.identity_providers import realms
from crm.licensing.models import LicenseSeat
from crm.roles.models import RoleMembership
from crm.roles.services import active_admins
from crm.search_keys import fold, prefix_range
from crm.users.lifecycle import ADMIN as ADMIN_REASON
from crm.users.lifecycle import deactivate, reactivate
from crm.users.models import UserIdentity


class UserError(ValueError):
    """A user action that cannot be done; the message is shown to the admin."""


def find_user(username: str) -> User | None:
    """The user with this username, compared case-insensitively."""
    return find_by_username(username)


def create_user(username: str, *, user_type: str = "employee", password: str | None = None,
                contact: Contact | None = None) -> User:
    """Add a user (the caller audits and commits)."""
    username = (username or "").strip()
    if not username:
        raise UserError("Enter a username.")
    if user_type not in USER_TYPES:
        raise UserError(f"User type must be one of: {', '.join(USER_TYPES)}.")
    if find_user(username) is not None:
        raise UserError(f'A user named "{username}" already exists (usernames ignore case).')
    if password is not None and (problem := password_problem(password)):
        raise UserError(problem)
    user = User(username=username, user_type=user_type, active=True, contact=contact)
    if password is not None:
        user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def set_active(user: User, active: bool) -> bool:
    """Activate or deactivate a user by hand, with the directory's effects: a deactivated user's sessions end and
    their seats are released; a reactivated SSO user gets seats by their provider's license policy where free. The
    last active administrator stays active."""
    if user.active == active:
        return False
    if not active and user.is_admin and _other_active_admins(user) == 0:
        raise UserError(f"{user.username} is the last active administrator; make someone else an administrator first.")
    identity = getattr(user, "identity", None)
    done = reactivate(user, identity.provider if identity else None) if active else deactivate(user, ADMIN_REASON)
    audit.record("user.activate" if active else "user.deactivate",
                 f"{'Activated' if active else 'Deactivated'} user {user.username}", target=user,
                 changes={"active": {"before": not active, "after": active}}, details=done)
    return True


def _other_active_admins(user: User) -> int:
    return len(db.session.scalars(active_admins().where(User.id != user.id)).all())


def search_statement(q: str = "", active: str = "", role_id: int | None = None,
                     package_id: int | None = None) -> Select:
    """Users by username or contact name prefix, filtered by state, role and license."""
    # (the list shows where each user comes from: their SSO bindings in one more statement, not one per row)
    stmt = select(User).outerjoin(User.contact).options(selectinload(User.identity)).order_by(User.username_key)
    if fold(q):
        stmt = stmt.where(or_(prefix_range(User.username_key, q), prefix_range(Contact.name_key, q),
                              prefix_range(Contact.surname_key, q)))
    if active in ("yes", "no"):
        stmt = stmt.where(User.active.is_(active == "yes"))
    if role_id:
        stmt = stmt.where(exists().where(RoleMembership.user_id == User.id, RoleMembership.role_id == role_id))
    if package_id:
        stmt = stmt.where(exists().where(LicenseSeat.user_id == User.id, LicenseSeat.package_id == package_id))
    return stmt


def user_json(user: User) -> dict[str, Any]:
    """The user as `users show --json` prints it; lookups by name."""
    contact = contact_values(user.contact) if user.contact else None
    return {
        "username": user.username,
        "active": user.active,
        "user_type": user.user_type,
        "identity": identity_json(user),
        "source": user.source or ("jit" if getattr(user, "identity", None) is not None else "manual"),
        "external_id": user.identity.immutable_id if getattr(user, "identity", None) is not None else None,
        "inactive_reason": user.inactive_reason,
        "break_glass": bool(user.break_glass),
        "employee_number": user.identity.employee_number if getattr(user, "identity", None) is not None else None,
        "manager": _manager_name(user),
        # active, through a provider, and no seat was free for them (an admin grants one, or one is released)
        "waiting_for_seat": bool(user.active and getattr(user, "identity", None) is not None and not user.seats),
        "contact": contact,
        "licenses": sorted(seat.package.name for seat in user.seats),
        "roles": sorted(({"name": m.role.name, "source": m.source} for m in user.memberships),
                        key=lambda r: fold(r["name"])),
    }


def manager_of(user: User) -> User | None:
    """The user the directory names as this user's manager (its SCIM id), when it is a user of the same provider."""
    identity = getattr(user, "identity", None)
    if identity is None or not identity.manager or not identity.manager.isdigit() or len(identity.manager) > 9:
        return None
    return db.session.scalar(select(User).join(UserIdentity, UserIdentity.user_id == User.id)
                             .where(User.id == int(identity.manager), UserIdentity.provider_id == identity.provider_id))


def _manager_name(user: User) -> str | None:
    manager = manager_of(user)
    return manager.username if manager is not None else (user.identity.manager if user.identity else None)


def identity_json(user: User) -> dict[str, Any] | None:
    """The user's SSO binding {"idp", "name_id"}, or None for a user who never signed in through SSO."""
    identity = getattr(user, "identity", None)
    if identity is None:
        return None
    return {"idp": identity.provider.slug, "name_id": identity.name_id}


def link_identity(user: User, provider, name_id: str) -> None:
    """Bind the user to (provider, NameID), replacing an old binding; refused when that NameID is someone else's."""
    name_id = (name_id or "").strip()
    if not name_id or len(name_id) > 250:
        raise UserError("Enter the NameID the identity provider sends for this user (at most 250 characters).")
    taken = db.session.scalar(select(UserIdentity).where(UserIdentity.provider_id == provider.id,
                                                         UserIdentity.name_id_key == fold(name_id)))
    if taken is not None and taken.user_id != user.id:
        raise UserError(f"{provider.display_name} NameID {name_id} already belongs to {taken.user.username}.")
    before = _binding_text(user)
    if user.identity is not None:
        db.session.delete(user.identity)
        db.session.flush()
    user.identity = UserIdentity(provider_id=provider.id, name_id=name_id)
    db.session.flush()
    end_sessions_after_change(user)
    db.session.refresh(user, ["identity"])
    was = f" (was {before})" if before else ""
    audit.record("user.identity_link", f"Linked {user.username} to {provider.display_name} as {name_id}{was}",
                 target=user, changes={"identity": {"before": before, "after": _binding_text(user)}})


def unlink_identity(user: User) -> bool:
    """Remove the user's SSO binding (their next SSO login links again by username, or an admin links them)."""
    if user.identity is None:
        return False
    before = _binding_text(user)
    db.session.delete(user.identity)
    db.session.flush()
    db.session.expire(user, ["identity"])
    end_sessions_after_change(user)
    audit.record("user.identity_unlink", f"Unlinked {user.username} from single sign-on", target=user,
                 changes={"identity": {"before": before, "after": None}})
    return True


def _binding_text(user: User) -> str | None:
    """The binding as the audit trail keeps it: provider and NameID, and the immutable id when there is one (a
    re-link drops it, so the old value must stay readable in the trail)."""
    identity = getattr(user, "identity", None)
    if identity is None:
        return None
    immutable = f" (immutable id {identity.immutable_id})" if identity.immutable_id else ""
    return f"{identity.provider.slug}: {identity.name_id}{immutable}"


def sign_out_everywhere(user: User) -> int:
    """End every session of the user (the administrator's own one too, when they sign themselves out); how many."""
    ended = end_sessions(user.id)
    if ended:
        audit.record("user.sign_out_everywhere", f"Signed {user.username} out everywhere", target=user,
                     details={"sessions_ended": ended})
    return ended


def sessions_of(user: User) -> list:
    """The user's live sessions, newest first."""
    return live_sessions(user.id)


def change_password(user: User, password: str) -> int:
    """Give the user a new local password (the policy's minimum applies) and end every session of theirs, the
    administrator's own one too when they change their own; how many sessions ended."""
    if (enforcer := realms.password_refused_by(user)) is not None:
        raise UserError(f"{enforcer.display_name} requires single sign-on of {user.username}: no password is set for "
                        "them (a break-glass administrator keeps one).")
    try:
        user.set_password(password)
    except WeakPassword as weak:
        raise UserError(str(weak)) from None
    ended = end_sessions(user.id)
    audit.record("user.password_change", f"Set a new password for {user.username}", target=user,
                 details={"sessions_ended": ended})
    return ended
