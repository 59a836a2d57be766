"""Cross-cutting web behaviour: error pages, security headers, template helpers."""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from flask import Flask, Request, abort, render_template, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from crm.extensions import db
from crm.templating import register_templating, render_standalone

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 30

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)

# Characters no page accepts, refused before any view runs: NUL (PostgreSQL refuses it in text), lone surrogates (no
# encoding carries them to a database) and the Unicode noncharacters (U+FDD0-U+FDEF and the last two code points of
# every plane, U+10FFFF among them), which no real text holds.
CRAFTED = re.compile("[\x00\ud800-\udfff\ufdd0-\ufdef" + "".join(
    chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17)) + "]")
CRAFTED_INPUT = ("The request holds a character that is not allowed here (a NUL byte, a lone surrogate or a Unicode "
                 "noncharacter such as U+FFFF).")

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
    if hops := int(app.config.get("TRUSTED_PROXIES") or 0):
        # Behind N reverse proxies the client's address is the Nth from the right in X-Forwarded-For (the
        # password throttle counts it). Never trusted unless configured: any client can send that header.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

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
        # A failed statement leaves the session unusable (PostgreSQL: "current transaction is aborted"), and the
        # page's layout asks the database who is signed in: without the rollback the error page itself would fail.
        try:
            db.session.rollback()
        except Exception:  # the connection is gone; the teardown lets it go
            pass
        return _error_page(500, None), 500

    @app.before_request
    def refuse_crafted_input() -> None:
        """One check at the boundary for every page: crafted characters get a 400, never a 500 from the database."""
        if crafted_input(request):
            abort(400, CRAFTED_INPUT)

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
        if hsts := app.config.get("HSTS"):  # production over https (config.py)
            response.headers.setdefault("Strict-Transport-Security", hsts)
        if response.mimetype == "text/html":
            # Pages show people's data: never kept in the browser's caches after sign-out, and Back/Forward
            # ask the server again instead of restoring a stale page from the back-forward cache.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    register_templating(app)


def crafted_input(req: Request) -> bool:
    """True when the path, the query, a form field (name or value), a file name or a JSON string holds a character
    of CRAFTED, or when the query string is not even UTF-8 (or a JSON body nests deeper than Python recurses)."""
    try:
        return any(_crafted(text) for text in _texts(req))
    except (UnicodeDecodeError, RecursionError):
        return True


def _crafted(text: str) -> bool:
    """Whether the text holds a character of CRAFTED. ASCII text (a SAMLResponse, almost every form) can only hold
    NUL, found by two scans in C; the regular expression, about 35 µs a kilobyte, reads the rest."""
    if text.isascii():
        return "\x00" in text
    return CRAFTED.search(text) is not None


def _texts(req: Request) -> Iterator[str]:
    yield req.path
    yield from (text for pair in req.args.items(multi=True) for text in pair)
    if req.method in ("POST", "PUT", "PATCH", "DELETE"):
        yield from (text for pair in req.form.items(multi=True) for text in pair)
        yield from (upload.filename or "" for _name, upload in req.files.items(multi=True))
        if req.is_json:
            yield from _json_strings(req.get_json(silent=True))


def _json_strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)


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
    return render_standalone("errors/unavailable.html"), 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _error_page(code: int, description: str | None) -> str:
    title, default_text = ERROR_TITLES.get(code, (f"Error {code}", ""))
    # Werkzeug's generic descriptions are technical; show ours unless a view gave a specific one.
    generic = description is None or description.startswith(("The server", "The requested URL", "You don't"))
    return render_template("errors/error.html", code=code, title=title, text=default_text if generic else description)
