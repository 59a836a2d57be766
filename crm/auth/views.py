"""Local sign-in and sign-out."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user

from crm.auth import throttling
from crm.auth.access import first_page, no_access_page  # (importing access registers the user loader)
from crm.auth.forms import IdentifyForm, LoginForm
from crm.auth.safe_urls import safe_next
from crm.auth.services import (
    LoginButton,
    SignInRealm,
    find_by_username,
    find_realm,
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
    """The login page: first who you are (home realm discovery: the provider that owns your email domain signs you
    in), then a password where one is allowed. `?login_hint=EMAIL` answers the first question, `?idp=SLUG` goes
    straight to that provider, `?step=password` straight to the password form (a break-glass administrator whose
    domain a provider owns). Password tries are throttled (throttling.py)."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("auth.home"))
    if request.method == "GET" and (slug := request.args.get("idp")):
        realm = find_realm(None, None, slug)
        if realm.buttons:
            return redirect(_button_url(realm.buttons[0], request.args.get("login_hint")))
        flash(f"No identity provider {slug} signs in here. Enter your email or username.", "error")
    if request.method == "GET" and (hint := (request.args.get("login_hint") or "").strip()):
        return _discover(hint[:250])
    if request.method == "GET" and request.args.get("step") == "password":  # local users, break-glass admins
        return _password_page(LoginForm(formdata=None))
    if request.method == "GET" or "password" not in request.form:
        identify = IdentifyForm(formdata=None) if request.method == "GET" else IdentifyForm()
        if request.method == "POST" and identify.validate_on_submit():
            return _discover(identify.username.data.strip())
        return _identify_page(identify)
    return _password_step(LoginForm())


def _discover(identifier: str):
    """Where to go with what was typed: straight to the one provider that owns it, the choice when several do, a
    page naming the provider that requires single sign-on, else the password form."""
    realm = find_realm(identifier, find_by_username(identifier))
    if len(realm.buttons) == 1:
        return redirect(_button_url(realm.buttons[0], identifier))
    if realm.buttons:
        return _choice_page(identifier, realm)
    return _password_page(LoginForm(formdata=None, username=identifier))


def _password_step(form: LoginForm):
    if not form.validate_on_submit():
        return _password_page(form)
    known = throttling.device_is_known(form.username.data, request.cookies.get(throttling.DEVICE_COOKIE))
    attempt = throttling.begin(form.username.data, request.remote_addr, known_browser=known)
    if attempt.refused:
        return _password_page(form, wait=attempt.refused_for), 429, {"Retry-After": str(attempt.refused_for)}
    user = find_by_username(form.username.data)
    realm = find_realm(form.username.data, user)
    if realm.enforced_by:  # no password is checked (nor counted) for people whose organization requires SSO
        return _choice_page(form.username.data, realm), 403
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
    return _password_page(form)


def _button_url(button: LoginButton, login_hint: str | None) -> str:
    """A provider's sign-in start, with `next` kept and what the user typed passed on as the login hint."""
    return url_for(button.endpoint, next=request.args.get("next"), login_hint=login_hint or None, **button.values)


def _identify_page(form: IdentifyForm) -> str:
    return render_template("auth/login.html", step="identify", form=form, login_buttons=login_buttons())


def _choice_page(identifier: str, realm: SignInRealm) -> str:
    return render_template("auth/login.html", step="choose", identifier=identifier, realm=realm,
                           buttons=[(b, _button_url(b, identifier)) for b in realm.buttons])


def _password_page(form: LoginForm, wait: int = 0) -> str:
    return render_template("auth/login.html", step="password", form=form, login_buttons=login_buttons(),
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
