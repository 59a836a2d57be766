"""Local sign-in and sign-out."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from crm.auth import access  # noqa: F401  (registers the user loader)
from crm.auth.forms import LoginForm
from crm.auth.models import User
from crm.auth.safe_urls import safe_next
from crm.extensions import db
from crm.search_keys import fold
from crm.timeutil import utcnow

bp = Blueprint("auth", __name__)


@bp.get("/")
def home():
    """The console's start page: Contacts for a signed-in user, else the login page."""
    if current_user.is_authenticated:
        return redirect(url_for("contacts.index"))
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login page; sign a user in with username and password."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("contacts.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(db.select(User).where(User.username_key == fold(form.username.data)))
        if user is None or not user.check_password(form.password.data):
            form.password.errors.append("The username or password is not correct.")
        elif not user.active:
            form.username.errors.append("This account is not active. Ask your administrator.")
        else:
            start_session(user)
            return redirect(safe_next(request.args.get("next")) or url_for("contacts.index"))
    return render_template("auth/login.html", form=form, sso_providers=_sso_buttons())


def _sso_buttons() -> list:
    """Providers with "Display login via SSO" on, for the login page."""
    from crm.identity_providers.models import IdentityProvider

    stmt = (db.select(IdentityProvider).where(IdentityProvider.enabled.is_(True),
                                               IdentityProvider.show_on_login.is_(True))
            .order_by(IdentityProvider.display_name))
    return list(db.session.scalars(stmt))


def start_session(user: User, stamp_login: bool = True, **session_values: str) -> None:
    """Sign the user in on a fresh session (nothing from before sign-in survives: no fixation)."""
    session.clear()
    login_user(user)
    session.update(session_values)
    if stamp_login:  # SSO provisioning stamps it in its own transaction
        user.last_login_at = utcnow()
        db.session.commit()


@bp.post("/logout")
def logout():
    """Sign out and forget the whole session; a user who came through SSO is signed out at the IdP too."""
    from crm.sso.views import idp_logout_url

    idp_url = idp_logout_url()
    logout_user()
    session.clear()
    if idp_url:
        return redirect(idp_url)
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))

