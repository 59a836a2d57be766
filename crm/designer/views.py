"""System Designer: the admin's settings pages (lookups; Single Sign On configuration)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional

from crm.auth.access import admin_required
from crm.designer import lookups
from crm.extensions import db

bp = Blueprint("designer", __name__, url_prefix="/designer")


class LookupForm(FlaskForm):
    """A lookup value's name and description."""

    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    description = StringField("Description", validators=[Optional(), Length(max=250)])


@bp.get("")
@admin_required
def index():
    """The System Designer's sections."""
    return render_template("designer/index.html", lookups=lookups.LOOKUPS.values())


@bp.get("/lookups/<slug>")
@admin_required
def lookup(slug: str):
    """The values of one lookup."""
    found = lookups.LOOKUPS.get(slug) or abort(404)
    return render_template("designer/lookup.html", lookup=found, rows=lookups.rows(found))


@bp.route("/lookups/<slug>/new", methods=["GET", "POST"])
@admin_required
def lookup_create(slug: str):
    """Add a value to a lookup."""
    return _edit(lookups.LOOKUPS.get(slug) or abort(404), None)


@bp.route("/lookups/<slug>/<int:item_id>/edit", methods=["GET", "POST"])
@admin_required
def lookup_edit(slug: str, item_id: int):
    """Rename a lookup value."""
    found = lookups.LOOKUPS.get(slug) or abort(404)
    return _edit(found, db.session.get(found.model, item_id) or abort(404))


def _edit(lookup: lookups.Lookup, item):
    form = LookupForm(obj=item)
    if form.validate_on_submit():
        try:
            saved = lookups.save(lookup, item, form.name.data, form.description.data)
        except lookups.LookupInvalid as error:
            db.session.rollback()
            form.name.errors = [str(error)]
        else:
            db.session.commit()
            flash(f"{lookup.singular.capitalize()} {saved.name} saved.", "success")
            return redirect(url_for(".lookup", slug=lookup.slug))
    return render_template("designer/lookup_form.html", form=form, lookup=lookup, item=item)

from crm.designer import sso_views  # noqa: E402,F401  (registers the SSO configuration routes on bp)
