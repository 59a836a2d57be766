"""System Designer → lookups: the values of Contact types and Departments, added and renamed."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, url_for

from crm.auth.access import admin_required
from crm.designer.lookups import services as lookups
from crm.designer.lookups.forms import LookupForm
from crm.editing import edit_page
from crm.extensions import db

bp = Blueprint("lookups", __name__, url_prefix="/lookups")


def _lookup(slug: str) -> lookups.Lookup:
    return lookups.LOOKUPS.get(slug) or abort(404)


@bp.get("/<slug>")
@admin_required
def index(slug: str):
    """The values of one lookup."""
    found = _lookup(slug)
    return render_template("designer/lookup.html", lookup=found, rows=lookups.rows(found))


@bp.route("/<slug>/new", methods=["GET", "POST"])
@admin_required
def create(slug: str):
    """Add a value to a lookup."""
    return _edit(_lookup(slug), None)


@bp.route("/<slug>/<int:item_id>/edit", methods=["GET", "POST"])
@admin_required
def edit(slug: str, item_id: int):
    """Rename a lookup value."""
    found = _lookup(slug)
    return _edit(found, db.session.get(found.model, item_id) or abort(404))


def _edit(lookup: lookups.Lookup, item):
    form = LookupForm(obj=item)
    return edit_page(form, lambda: lookups.save(lookup, item, form.name.data, form.description.data),
                     refused=lookups.LookupInvalid, error_field="name",
                     saved_message=lambda saved: f"{lookup.singular.capitalize()} {saved.name} saved.",
                     next_url=lambda saved: url_for(".index", slug=lookup.slug), template="designer/lookup_form.html",
                     lookup=lookup, item=item)
