"""Who may see what: the user loader and the admin_required decorator."""
from __future__ import annotations

from functools import wraps

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from crm.auth.models import User
from crm.extensions import db, login_manager

login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to continue."
login_manager.login_message_category = "info"


@login_manager.unauthorized_handler
def unauthorized():
    """Send signed-out users to the login page; an htmx request reloads the whole page instead of
    swapping the login form into a fragment."""
    if request.headers.get("HX-Request"):
        return "", 200, {"HX-Redirect": url_for("auth.login", next=request.full_path.rstrip("?"))}
    flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Load the signed-in user with the roles every page asks about (is_admin), in one statement; an inactive
    one is signed out by flask-login."""
    if not user_id.isdigit():
        return None
    return db.session.scalars(select(User).where(User.id == int(user_id))
                              .options(joinedload(User.memberships))).unique().first()


def admin_required(view):
    """Only signed-in administrators; everyone else gets the 403 page."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped
