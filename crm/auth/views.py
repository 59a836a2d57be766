"""Local sign-in and sign-out."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user

from crm.auth import access  # noqa: F401  (registers the user loader)
from crm.auth.forms import LoginForm
from crm.auth.safe_urls import safe_next
from crm.auth.services import login_buttons, logout_redirect, password_sign_in, user_with_password

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
        user = user_with_password(form.username.data, form.password.data)
        if user is None:
            form.password.errors.append("The username or password is not correct.")
        elif not user.active:
            form.username.errors.append("This account is not active. Ask your administrator.")
        else:
            password_sign_in(user)
            return redirect(safe_next(request.args.get("next")) or url_for("contacts.index"))
    return render_template("auth/login.html", form=form, login_buttons=login_buttons())


@bp.post("/logout")
def logout():
    """Sign out and forget the whole session; a user who came through SSO is signed out at the IdP too."""
    elsewhere = logout_redirect()
    logout_user()
    session.clear()
    if elsewhere:
        return redirect(elsewhere)
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
