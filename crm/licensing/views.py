"""License packages: list with seats used, create, edit, holders."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from crm.auth.access import admin_required
from crm.auth.models import User
from crm.editing import edit_page
from crm.extensions import db
from crm.licensing import services
from crm.licensing.forms import PackageForm
from crm.licensing.models import LicensePackage, LicenseSeat
from crm.pagination import page_arg, paginate

bp = Blueprint("licensing", __name__, url_prefix="/licenses")


@bp.get("")
@admin_required
def index():
    """Every package with its seats used and free."""
    return render_template("licensing/index.html", packages=services.all_packages())


@bp.get("/<int:package_id>")
@admin_required
def detail(package_id: int):
    """A package and the users holding its seats."""
    package = db.session.get(LicensePackage, package_id) or abort(404)
    stmt = (select(LicenseSeat).join(User, User.id == LicenseSeat.user_id)
            .where(LicenseSeat.package_id == package.id).order_by(User.username_key))
    holders = paginate(stmt, page_arg(request.args.get("page")), current_app.config["PAGE_SIZE"])
    return render_template("licensing/detail.html", package=package, holders=holders)


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def create():
    """Add a license package."""
    return _edit(None)


@bp.route("/<int:package_id>/edit", methods=["GET", "POST"])
@admin_required
def edit(package_id: int):
    """Rename a package or change its seat limit."""
    return _edit(db.session.get(LicensePackage, package_id) or abort(404))


def _edit(package: LicensePackage | None):
    form = PackageForm(obj=package)
    return edit_page(form, lambda: services.save_package(package, form.name.data, form.seat_limit.data),
                     refused=services.LicenseError, error_field="seat_limit",
                     saved_message=lambda saved: f"License package {saved.name} saved.",
                     next_url=lambda saved: url_for(".detail", package_id=saved.id), template="licensing/form.html",
                     package=package, actor=current_user)
