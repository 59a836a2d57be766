"""Signing in and out. Other ways in (single sign-on) plug into the login page and the logout here, so that auth
never needs to know them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app, session
from flask_login import UserMixin, login_user
from sqlalchemy import select

from crm.auth import passwords
from crm.auth.models import User
from crm.auth.sessions import PASSWORD, open_session
from crm.extensions import db
from crm.search_keys import fold
from crm.timeutil import utcnow


@dataclass(frozen=True)
class LoginButton:
    """A button on the login page that starts another way in."""

    label: str
    endpoint: str
    values: dict


def find_by_username(username: str) -> User | None:
    """The user with this username, compared case-insensitively."""
    return db.session.scalar(select(User).where(User.username_key == fold(username)))


def password_matches(user: User | None, password: str) -> bool:
    """True when the user exists and this is their local password; the same work when there is no such user or
    they have no password, so the time taken does not tell which usernames are worth guessing."""
    return passwords.matches(user.password_hash if user else None, password)


class SignedIn(UserMixin):
    """A browser just signed in, known by its session token only: the sign-in has checked the user and written the
    session row; the next request loads the user from the token."""

    def __init__(self, token: str):
        self.token = token

    def get_id(self) -> str:
        return self.token


def start_session(token: str, **session_values) -> None:
    """Put a written session's token into a fresh cookie session (nothing from before sign-in survives: no
    fixation)."""
    session.clear()
    login_user(SignedIn(token), force=True)
    session.update(session_values)


def session_token() -> str | None:
    """The token of this browser's session (what the cookie carries)."""
    return session.get("_user_id")


def password_sign_in(user: User) -> None:
    """Sign in a user whose password was checked: a new session row, the time of sign-in, what the other areas
    record of it (a break-glass administrator's sign-in is audited), one commit."""
    token = open_session(user.id, PASSWORD)
    user.last_login_at = utcnow()
    for step in current_app.extensions.get("crm.password_sign_in_steps", ()):
        step(user)
    db.session.commit()
    start_session(token)


def add_login_buttons(app: Flask, buttons: Callable[[], list[LoginButton]]) -> None:
    """Let another way in offer buttons on the login page (called when the page is shown)."""
    app.extensions.setdefault("crm.login_buttons", []).append(buttons)


def login_buttons() -> list[LoginButton]:
    """Every button the other ways in offer now."""
    return [b for source in current_app.extensions.get("crm.login_buttons", ()) for b in source()]


def add_password_sign_in_step(app: Flask, step: Callable[[User], None]) -> None:
    """Let another area record a password sign-in in its transaction (before the session starts)."""
    app.extensions.setdefault("crm.password_sign_in_steps", []).append(step)


@dataclass(frozen=True)
class SignInRealm:
    """Where what was typed on the login page signs in: the buttons of the providers that own it, and the name of
    the provider that requires single sign-on of it (then the password form is not offered)."""

    buttons: tuple[LoginButton, ...] = ()
    enforced_by: str | None = None


RealmFinder = Callable[[str | None, User | None, str | None], SignInRealm]


def add_realm_finder(app: Flask, finder: RealmFinder) -> None:
    """Let single sign-on say where an identifier (and its user), or a provider's slug, signs in."""
    app.extensions["crm.realm_finder"] = finder


def find_realm(identifier: str | None, user: User | None = None, idp: str | None = None) -> SignInRealm:
    """The realm of an identifier typed on the login page (and the user it names), or of `?idp=SLUG`; without
    single sign-on, none: the password form."""
    finder = current_app.extensions.get("crm.realm_finder")
    return finder(identifier, user, idp) if finder else SignInRealm()


def add_logout_step(app: Flask, step: Callable[[], str | None]) -> None:
    """Let another way in end its own session at logout: the step returns where to send the browser, or None."""
    app.extensions.setdefault("crm.logout_steps", []).append(step)


def logout_redirect() -> str | None:
    """Where a logout must go next (an IdP's logout page), decided before the session is forgotten."""
    return next((url for step in current_app.extensions.get("crm.logout_steps", ()) if (url := step())), None)


def add_sign_in_again_step(app: Flask, step: Callable[[str | None, str], str | None]) -> None:
    """Let another way in take a browser whose session ran out back through its own sign-in: the step gets how the
    session signed in ("sso:<slug>"; None when its row is gone) and the page to return to, and returns where to
    send the browser, or None."""
    app.extensions.setdefault("crm.sign_in_again_steps", []).append(step)


def sign_in_again_url(method: str | None, next_path: str) -> str | None:
    """Where a browser whose session ended signs in again, when a way in other than the password claims it."""
    if method == PASSWORD:
        return None
    return next((url for step in current_app.extensions.get("crm.sign_in_again_steps", ())
                 if (url := step(method, next_path))), None)
