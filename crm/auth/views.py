"""Local sign-in and sign-out."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user

from crm.auth import throttling
from crm.auth.access import first_page, no_access_page  # (importing access registers the user loader)
from crm.auth.forms import LoginForm
from crm.auth.safe_urls import safe_next
from crm.auth.services import (
    find_by_username,
    login_buttons,
    logout_redirect,
    password_matches,
    password_sign_in,
    session_token,
)
from crm.auth.sessions import end_session
from crm.extensions import db

bp = Blueprint("auth", __name__)


@bp.get("/")
def home():
    """The console's start page: Contacts for a signed-in user, else the login page."""
    if current_user.is_authenticated:
        return redirect(first_page())
    return redirect(url_for("auth.login"))


@bp.get("/no-access")
@login_required
def no_access():
    """Signed in, but no role or no license seat gives access to anything yet: say so, and whom to ask."""
    if current_user.permissions:
        return redirect(first_page())
    return no_access_page()


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login page; sign a user in with username and password (tries are throttled: throttling.py)."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("auth.home"))
    form = LoginForm()
    if form.validate_on_submit():
        known = throttling.device_is_known(form.username.data, request.cookies.get(throttling.DEVICE_COOKIE))
        attempt = throttling.begin(form.username.data, request.remote_addr, known_browser=known)
        if attempt.refused:
            return _login_page(form, wait=attempt.refused_for), 429, {"Retry-After": str(attempt.refused_for)}
        user = find_by_username(form.username.data)
        if not password_matches(user, form.password.data):
            wait = throttling.failed(attempt, user.id if user else None)
            form.password.errors.append("The username or password is not correct." + (
                f" Wait {throttling.wait_words(wait)} before the next try." if wait else ""))
        elif not user.active:
            form.username.errors.append("This account is not active. Ask your administrator.")
        else:
            throttling.succeeded(attempt)
            password_sign_in(user)
            response = redirect(safe_next(request.args.get("next")) or first_page(user))
            # This browser is a known one for the user from now on: a guessing attack's cap never holds it back.
            response.set_cookie(throttling.DEVICE_COOKIE, throttling.device_cookie(user.username),
                                max_age=throttling.DEVICE_DAYS * 86400, httponly=True, samesite="Lax",
                                secure=current_app.config["SESSION_COOKIE_SECURE"])
            return response
    return _login_page(form)


def _login_page(form: LoginForm, wait: int = 0) -> str:
    return render_template("auth/login.html", form=form, login_buttons=login_buttons(),
                           wait=throttling.wait_words(wait) if wait else None)


@bp.before_app_request
def _load_signed_in_user() -> None:
    """Find this browser's session before the view runs (one lookup, kept for the request), so that the session
    row's upkeep (last seen, an expired row deleted) is committed before the view writes anything."""
    if request.endpoint != "static":
        current_user._get_current_object()


@bp.post("/logout")
def logout():
    """Sign out: the session row is deleted (a copy of the cookie stops working too) and the cookie session
    forgotten; a user who came through SSO is signed out at the IdP too."""
    elsewhere = logout_redirect()
    end_session(session_token())
    db.session.commit()
    logout_user()
    session.clear()
    if elsewhere:
        return redirect(elsewhere)
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
