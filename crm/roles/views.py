"""Roles: list, create, rename, members."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from crm.auth.access import admin_required
from crm.auth.models import User
from crm.auth.permissions import SECTIONS
from crm.editing import edit_page
from crm.extensions import db
from crm.pagination import page_arg, paginate
from crm.roles import services
from crm.roles.forms import RoleForm
from crm.roles.models import Role, RoleMembership

bp = Blueprint("roles", __name__, url_prefix="/roles")


@bp.get("")
@admin_required
def index():
    """Roles with their member counts."""
    per_role = select(RoleMembership.role_id, func.count()).group_by(RoleMembership.role_id)
    counts = dict(db.session.execute(per_role).all())
    return render_template("roles/index.html", roles=services.all_roles(), counts=counts)


@bp.get("/<int:role_id>")
@admin_required
def detail(role_id: int):
    """A role and its members."""
    role = db.session.get(Role, role_id) or abort(404)
    stmt = (select(RoleMembership).join(User, User.id == RoleMembership.user_id)
            .where(RoleMembership.role_id == role.id).order_by(User.username_key))
    members = paginate(stmt, page_arg(request.args.get("page")), current_app.config["PAGE_SIZE"])
    return render_template("roles/detail.html", role=role, members=members, sections=SECTIONS)


@bp.post("/<int:role_id>/permissions")
@admin_required
def permissions(role_id: int):
    """Give the role the permissions ticked on its page."""
    role = db.session.get(Role, role_id) or abort(404)
    try:
        changed = services.set_permissions(role, set(request.form.getlist("permission")))
    except services.RoleError as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(f"Permissions of {role.name} saved." if changed else "Nothing changed.",
              "success" if changed else "info")
    return redirect(url_for(".detail", role_id=role_id) + "#role-permissions")


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def create():
    """Create a role."""
    return _edit(None)


@bp.route("/<int:role_id>/edit", methods=["GET", "POST"])
@admin_required
def edit(role_id: int):
    """Rename a role or change its description."""
    return _edit(db.session.get(Role, role_id) or abort(404))


def _edit(role: Role | None):
    form = RoleForm(obj=role)
    return edit_page(form, lambda: services.save_role(role, form.name.data, form.description.data),
                     refused=services.RoleError, error_field="name",
                     saved_message=lambda saved: f"Role {saved.name} saved.",
                     next_url=lambda saved: url_for(".detail", role_id=saved.id), template="roles/form.html", role=role)
