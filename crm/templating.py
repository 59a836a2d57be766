"""Jinja helpers: navigation, dates, query-string URLs for sorting and paging."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from flask import Flask, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from crm.timeutil import utcnow

log = logging.getLogger(__name__)

# (endpoint, label, area, the permission it needs: a name from crm.auth.permissions)
NAVIGATION = (
    ("contacts.index", "Contacts", "contacts", "contacts.view"),
    ("accounts.index", "Accounts", "accounts", "accounts.view"),
    ("users.index", "Users", "users", "system.administer"),
    ("roles.index", "Roles", "roles", "system.administer"),
    ("licensing.index", "Licenses", "licensing", "system.administer"),
    ("audit.index", "Audit", "audit", "system.administer"),
    ("designer.index", "System Designer", "designer", "system.administer"),
)


def register_templating(app: Flask) -> None:
    """Register filters and globals used by every template."""
    app.jinja_env.globals["navigation"] = NAVIGATION
    app.jinja_env.globals["url_with"] = url_with
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["duration"] = format_duration
    app.jinja_env.filters["dash"] = lambda v: "—" if v in (None, "") else v
    app.jinja_env.globals["utcnow"] = utcnow
    app.jinja_env.globals["admin_notices"] = admin_notices


@dataclass(frozen=True)
class Notice:
    """A banner every administrator sees on every page until its cause is gone (a break-glass sign-in this week, a
    signing certificate about to expire): words, a link to where to look, and the lines under it when one banner
    gathers several (each a Notice of its own, with its link). "urgent" banners are alerts (read out at once)."""

    text: str
    link: str | None = None
    link_text: str | None = None
    level: str = "warn"  # or "urgent"
    items: tuple[Notice, ...] = ()


def add_admin_notices(app: Flask, source: Callable[[], list[Notice]]) -> None:
    """Let an area put banners in front of administrators (asked only when an administrator's full page is drawn:
    htmx partials do not extend the base template)."""
    app.extensions.setdefault("crm.admin_notices", []).append(source)


def admin_notices() -> list[Notice]:
    """Every banner for administrators now (the base template asks when the signed-in user is one). A source that
    cannot read the database is left out: a banner never breaks a page, the error page itself included."""
    notices = []
    for source in current_app.extensions.get("crm.admin_notices", ()):
        try:
            notices.extend(source())
        except SQLAlchemyError:
            log.warning("administrators' notices of %s could not be read", source.__qualname__, exc_info=True)
    return notices


def render_standalone(template: str, **context: object) -> str:
    """Render a page that must touch no database (the 503 page, while the database is down): the template alone,
    without the request's context processors, since flask-login's asks the database who is signed in. It gets the
    request explicitly; url_for and the other globals are the environment's."""
    return current_app.jinja_env.get_template(template).render(request=request, **context)


def url_with(**changes: object) -> str:
    """The current URL with some query arguments changed (None removes one)."""
    args = {k: v for k, v in request.args.items()}
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        else:
            args[key] = str(value)
    query = urlencode(args)
    return request.path + ("?" + query if query else "")


def format_datetime(value: datetime | None) -> str:
    """'2026-11-23 14:05 UTC' or a dash."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def format_duration(seconds: int | float | None) -> str:
    """'6 d 23 h', '7 h 59 min', '12 min', 'less than a minute' (the two largest units), or a dash."""
    if seconds is None:
        return "—"
    minutes = int(seconds) // 60
    if minutes < 1:
        return "less than a minute"
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
