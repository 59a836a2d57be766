"""Who may see what: the user loader, and the decorators every view and htmx partial goes through."""
from __future__ import annotations

from functools import wraps

from flask import Response, abort, flash, g, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from crm.auth import services, sessions
from crm.auth.models import User
from crm.auth.permissions import ADMINISTER
from crm.extensions import login_manager

login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to continue."
login_manager.login_message_category = "info"


@login_manager.unauthorized_handler
def unauthorized():
    """Send signed-out users to the login page, or a session that ran out back through the way it signed in (an SSO
    session to its provider: with the IdP's session alive that is a silent round trip); `next` is kept either way.
    An htmx request reloads the whole page instead of swapping the login form into a fragment."""
    next_path = request.full_path.rstrip("?")
    again = (services.sign_in_again_url(g.get("ended_session_method"), next_path)
             if g.get("session_ended") and g.get("may_sign_in_again", True) else None)
    target = again or url_for("auth.login", next=next_path)
    if request.headers.get("HX-Request"):
        return "", 200, {"HX-Redirect": target}
    if again:
        return redirect(again)
    if g.get("session_ended"):
        flash("Your session has ended. Sign in again.", "info")
    else:
        flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(target)


@login_manager.user_loader
def load_user(token: str) -> User | None:
    """The user of this browser's live session (the cookie holds its token), or None when it ended."""
    return sessions.user_for(token)


def permission_required(permission: str):
    """Only signed-in users who may do this (crm.auth.permissions); a user who may do nothing at all yet sees the
    page that says so, anyone else the 403 page."""

    def decorate(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.can(permission):
                refuse()
            return view(*args, **kwargs)

        return wrapped

    return decorate


def admin_required(view):
    """Only administrators (the administration pages need no license seat)."""
    return permission_required(ADMINISTER)(view)


def refuse():
    """Stop the request: the no-access page for a user who may do nothing yet, else the 403 page."""
    if current_user.is_authenticated and not current_user.permissions:
        abort(no_access_page())
    abort(403)


def no_access_page() -> Response:
    """The page a signed-in user with no permission at all sees, saying why (no role, no license seat)."""
    return make_response(render_template("auth/no_access.html", no_role=not current_user.granted,
                                         no_seat=not current_user.has_seat), 403)


def first_page(user: User | None = None) -> str:
    """Where a signed-in user (the current one unless given) starts: the first section they may open."""
    from crm.templating import NAVIGATION

    user = user or current_user
    return next((url_for(endpoint) for endpoint, _label, _area, needed in NAVIGATION if user.can(needed)),
                url_for("auth.no_access"))
