"""Users: list with filters, detail, activate/deactivate, license seats and roles."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.auth.access import admin_required
from crm.auth.models import User
from crm.auth.sessions import ends_at, idle_limit, seconds_left
from crm.extensions import db
from crm.identity_providers import realms
from crm.identity_providers.models import IdentityProvider
from crm.identity_providers.services import all_providers
from crm.licensing import services as licensing
from crm.licensing.models import LicensePackage
from crm.pagination import page_arg, paginate
from crm.roles import services as roles
from crm.roles.models import Role
from crm.users import services

bp = Blueprint("users", __name__, url_prefix="/users")


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


@bp.get("")
@admin_required
def index():
    """Users, searchable and filtered by state, role and license."""
    filters = {"q": request.args.get("q", "")[:200], "active": request.args.get("active", ""),
               "role_id": _int_arg("role"), "package_id": _int_arg("license")}
    page = paginate(services.search_statement(**filters), page_arg(request.args.get("page")),
                    current_app.config["PAGE_SIZE"], key=User.id)
    context = {"page": page, "filters": filters, "roles": roles.all_roles(), "packages": licensing.all_packages()}
    if request.htmx and request.htmx.target == "user-results":
        return render_template("users/_results.html", **context)
    return render_template("users/index.html", **context)


@bp.get("/<int:user_id>")
@admin_required
def detail(user_id: int):
    """One user: contact, licenses, roles and recent audit events."""
    user = _get(user_id)
    held_roles = {m.role_id for m in user.memberships}
    held_packages = {s.package_id for s in user.seats}
    idle = idle_limit()  # read once for every session on the page
    return render_template(
        "users/detail.html", user=user, providers=all_providers(), sessions=services.sessions_of(user),
        manager=services.manager_of(user),
        session_ends=lambda s: ends_at(s, idle), seconds_left=lambda s: seconds_left(s, idle=idle),
        other_roles=[r for r in roles.all_roles() if r.id not in held_roles],
        other_packages=[p for p in licensing.all_packages() if p.id not in held_packages],
    )


@bp.post("/<int:user_id>/active")
@admin_required
def set_active(user_id: int):
    """Activate or deactivate the user."""
    user = _get(user_id)
    active = request.form.get("active") == "1"
    return _act(user, lambda: services.set_active(user, active),
                f"{user.username} is now {'active' if active else 'inactive'}.")


@bp.post("/<int:user_id>/break-glass")
@admin_required
def set_break_glass(user_id: int):
    """Mark or unmark a break-glass administrator (the lock-out guard's rules apply)."""
    user = _get(user_id)
    on = request.form.get("break_glass") == "1"
    return _act(user, lambda: realms.set_break_glass(user, on),
                f"{user.username} is {'now' if on else 'no longer'} a break-glass administrator.")


@bp.post("/<int:user_id>/licenses")
@admin_required
def grant_license(user_id: int):
    """Grant the user a seat of a package."""
    user = _get(user_id)
    package = db.session.get(LicensePackage, _form_int("package_id")) or abort(400)
    return _act(user, lambda: licensing.grant(user, package, current_user.username),
                f"{package.name} granted to {user.username}.")


@bp.post("/<int:user_id>/licenses/<int:package_id>/revoke")
@admin_required
def revoke_license(user_id: int, package_id: int):
    """Take a seat back from the user."""
    user = _get(user_id)
    package = db.session.get(LicensePackage, package_id) or abort(404)
    return _act(user, lambda: licensing.revoke(user, package), f"{package.name} revoked from {user.username}.")


@bp.post("/<int:user_id>/roles")
@admin_required
def add_role(user_id: int):
    """Connect the user to a role by hand (SSO never removes such a membership)."""
    user = _get(user_id)
    role = db.session.get(Role, _form_int("role_id")) or abort(400)
    return _act(user, lambda: roles.add_member(user, role), f"{user.username} added to {role.name}.")


@bp.post("/<int:user_id>/roles/<int:role_id>/remove")
@admin_required
def remove_role(user_id: int, role_id: int):
    """Disconnect the user from a role."""
    user = _get(user_id)
    role = db.session.get(Role, role_id) or abort(404)
    return _act(user, lambda: roles.remove_member(user, role), f"{user.username} removed from {role.name}.")


@bp.post("/<int:user_id>/identity")
@admin_required
def link_identity(user_id: int):
    """Bind the user to an identity provider's NameID (e.g. after the IdP changed it), instead of a duplicate."""
    user = _get(user_id)
    provider = db.session.get(IdentityProvider, _form_int("provider_id")) or abort(400)
    name_id = request.form.get("name_id", "")
    return _act(user, lambda: services.link_identity(user, provider, name_id) or True,
                f"{user.username} now signs in through {provider.display_name} as {name_id.strip()}.")


@bp.post("/<int:user_id>/identity/unlink")
@admin_required
def unlink_identity(user_id: int):
    """Remove the user's single sign-on binding."""
    user = _get(user_id)
    return _act(user, lambda: services.unlink_identity(user), f"{user.username} is no longer linked to single sign-on.")


@bp.post("/<int:user_id>/sessions/end")
@admin_required
def sign_out_everywhere(user_id: int):
    """End every session of the user: each browser they signed in with has to sign in again."""
    user = _get(user_id)
    return _act(user, lambda: services.sign_out_everywhere(user), f"{user.username} is signed out everywhere.")


def _act(user: User, action, success: str):
    try:
        changed = action()
    except (services.UserError, licensing.LicenseError, roles.RoleError, realms.PolicyRefused) as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(success if changed else "Nothing to change.", "success" if changed else "info")
    return redirect(url_for(".detail", user_id=user.id))


def _form_int(name: str) -> int:
    value = request.form.get(name, "")
    return int(value) if value.isdigit() else 0


def _get(user_id: int) -> User:
    return db.session.get(User, user_id) or abort(404)
