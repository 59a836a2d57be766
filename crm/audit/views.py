"""The audit trail: filter the events and open one in full."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import Select, or_, select

from crm.audit.models import CATEGORIES, AuditEvent
from crm.auth.access import admin_required
from crm.extensions import db
from crm.pagination import page_arg, paginate

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _parse_day(value: str) -> datetime | None:
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return None
    if day.year == 9999:  # no day after 9999-12-31 to end the range with
        abort(400, "Choose a day before the year 9999.")
    return day


def filtered_events(args) -> Select:
    """Events newest first, filtered by category, provider, outcome, user, text and day range."""
    stmt = select(AuditEvent).order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
    if args.get("category") in CATEGORIES:
        stmt = stmt.where(AuditEvent.category == args["category"])
    for column in ("idp_slug", "outcome"):
        if args.get(column):
            stmt = stmt.where(getattr(AuditEvent, column) == args[column])
    if user := args.get("user", "").strip():
        stmt = stmt.where(or_(AuditEvent.actor_name == user, AuditEvent.target_label == user,
                              AuditEvent.name_id == user))
    if reference := args.get("reference", "").strip().upper():
        stmt = stmt.where(AuditEvent.reference == reference)
    if since := _parse_day(args.get("since", "")):
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    if until := _parse_day(args.get("until", "")):
        stmt = stmt.where(AuditEvent.occurred_at < until + timedelta(days=1))
    return stmt


@bp.get("")
@admin_required
def index():
    """The audit trail, newest first."""
    page = paginate(filtered_events(request.args), page_arg(request.args.get("page")),
                    current_app.config["PAGE_SIZE"])
    outcomes = [o for o in db.session.scalars(select(AuditEvent.outcome).distinct()) if o]
    providers = [p for p in db.session.scalars(select(AuditEvent.idp_slug).distinct()) if p]
    context = {"page": page, "args": request.args, "categories": CATEGORIES,
               "outcomes": sorted(outcomes), "providers": sorted(providers)}
    if request.htmx and request.htmx.target == "audit-results":
        return render_template("audit/_results.html", **context)
    return render_template("audit/index.html", **context)


@bp.get("/<int:event_id>")
@admin_required
def detail(event_id: int):
    """One event with every change and detail."""
    event = db.session.get(AuditEvent, event_id) or abort(404)
    return render_template("audit/detail.html", event=event)
