"""The audit trail: filter the events and open one in full."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import column, literal_column, select

from crm.audit.listing import Filters, events_page
from crm.audit.models import CATEGORIES, AuditEvent
from crm.auth.access import admin_required
from crm.extensions import db
from crm.pagination import Window

bp = Blueprint("audit", __name__, url_prefix="/audit")
OUTCOMES = ("created", "updated", "unchanged", "denied", "rejected")  # what sign-ins and refusals record


def known_providers() -> list[str]:
    """The providers named in the audit trail, including deleted ones: one index seek per provider (a recursive
    "next slug after this one"), not a pass over every event."""
    table = AuditEvent.__table__
    first = select(literal_column("1").label("n"), select(table.c.idp_slug).where(table.c.idp_slug.is_not(None))
                   .order_by(table.c.idp_slug).limit(1).scalar_subquery().label("slug"))
    slugs = first.cte("slugs", recursive=True)
    following = (select(table.c.idp_slug).where(table.c.idp_slug > slugs.c.slug).order_by(table.c.idp_slug)
                 .limit(1).scalar_subquery())
    slugs = slugs.union_all(select(slugs.c.n + 1, following).where(slugs.c.slug.is_not(None), slugs.c.n < 1000))
    return [s for s in db.session.scalars(select(column("slug")).select_from(slugs)) if s]


@bp.get("")
@admin_required
def index():
    """The audit trail, newest first."""
    page = events_page(Filters.from_args(request.args), Window.from_args(request.args),
                       current_app.config["PAGE_SIZE"])
    context = {"page": page, "args": request.args, "categories": CATEGORIES, "outcomes": OUTCOMES,
               "providers": known_providers()}
    if request.htmx and request.htmx.target == "audit-results":
        return render_template("audit/_results.html", **context)
    return render_template("audit/index.html", **context)


@bp.get("/<int:event_id>")
@admin_required
def detail(event_id: int):
    """One event with every change and detail."""
    event = db.session.get(AuditEvent, event_id) or abort(404)
    return render_template("audit/detail.html", event=event)
