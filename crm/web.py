"""Cross-cutting web behaviour: error pages, security headers, template helpers."""
from __future__ import annotations

import logging

from flask import Flask, g, render_template, request
from flask_login import AnonymousUserMixin
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from crm.extensions import db

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 30

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)

ERROR_TITLES = {
    400: ("Bad request", "The request could not be understood."),
    403: ("You do not have access to this page", "Ask an administrator if you need it."),
    404: ("Page not found", "The page or record you asked for does not exist."),
    405: ("Not allowed", "This action cannot be done this way."),
    413: ("Too large", "What you sent is larger than this page accepts."),
    429: ("Too many requests", "Wait a moment, then try again."),
    500: ("Something went wrong", "The error was logged. Try again, or tell your administrator."),
}


def register_web(app: Flask) -> None:
    """Attach error handlers, response headers and Jinja helpers to the app."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        # An API (SCIM) answers in its own format, also for what no view of its met (an unknown method).
        for prefix, render in app.extensions.get("error_renderers", {}).items():
            if request.path == prefix or request.path.startswith(prefix + "/"):
                return render(error.code or 500, error.description)
        kept = [(name, value) for name, value in error.get_headers() if name in ("Retry-After", "Allow")]
        return _error_page(error.code or 500, error.description), error.code, kept

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        if database_unreachable(error):
            return database_unavailable(error)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error_page(500, None), 500

    @app.teardown_appcontext
    def release_session(_error) -> None:
        """End the request's database session without ever raising: on a dead connection the rollback fails,
        and a raising teardown would turn an answered request into a raw 500. (Registered after Flask-SQLAlchemy's
        own teardown, so it runs first; that one then finds nothing left to do.)"""
        try:
            db.session.remove()
        except Exception as error:  # the connection is gone: the pool replaces it on the next checkout
            log.warning("database session ended on a broken connection: %s", error)
            db.session.registry.clear()

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            # Pages show people's data: never kept in the browser's caches after sign-out, and Back/Forward
            # ask the server again instead of restoring a stale page from the back-forward cache.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    from crm.templating import register_templating

    register_templating(app)


def database_unreachable(error: BaseException) -> bool:
    """True for the errors of a database that cannot be reached or dropped the connection."""
    return isinstance(error, OperationalError | InterfaceError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated)


def database_unavailable(error: Exception):
    """The console's own 503 page (it touches no database), with Retry-After."""
    log.error("database unavailable on %s %s: %s", request.method, request.path, error)
    try:
        db.session.rollback()
    except Exception:  # the connection is gone; the teardown lets it go
        pass
    g._login_user = AnonymousUserMixin()  # flask-login's template context would ask the database who this is
    return render_template("errors/unavailable.html"), 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _error_page(code: int, description: str | None) -> str:
    title, default_text = ERROR_TITLES.get(code, (f"Error {code}", ""))
    # Werkzeug's generic descriptions are technical; show ours unless a view gave a specific one.
    generic = description is None or description.startswith(("The server", "The requested URL", "You don't"))
    return render_template("errors/error.html", code=code, title=title, text=default_text if generic else description)
