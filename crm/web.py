"""Cross-cutting web behaviour: error pages, security headers, template helpers."""
from __future__ import annotations

import logging

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

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
    500: ("Something went wrong", "The error was logged. Try again, or tell your administrator."),
}


def register_web(app: Flask) -> None:
    """Attach error handlers, response headers and Jinja helpers to the app."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return _error_page(error.code or 500, error.description), error.code

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error_page(500, None), 500

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    from crm.templating import register_templating

    register_templating(app)


def _error_page(code: int, description: str | None) -> str:
    title, default_text = ERROR_TITLES.get(code, (f"Error {code}", ""))
    # Werkzeug's generic descriptions are technical; show ours unless a view gave a specific one.
    generic = description is None or description.startswith(("The server", "The requested URL", "You don't"))
    return render_template("errors/error.html", code=code, title=title, text=default_text if generic else description)
