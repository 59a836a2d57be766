"""Local passwords: how long a new one must be, and a check that costs the same whoever is asked about.

Local passwords are the break-glass way in; everyone else signs in through SSO. A guessed one opens the console, so
a new password needs MIN_LENGTH characters, and checking a password hashes once whether the username exists, has a
password or not: the response time does not tell which usernames are worth guessing.
"""
from __future__ import annotations

import secrets
from functools import cache

from werkzeug.security import check_password_hash, generate_password_hash

MIN_LENGTH = 12
MAX_LENGTH = 500  # the login form's limit: a longer one could never be typed in


class WeakPassword(ValueError):
    """A new password the policy refuses; the message says why in plain words."""


def password_problem(password: str | None) -> str | None:
    """Why the policy refuses this new password, or None when it is acceptable."""
    if len(password or "") < MIN_LENGTH:
        return f"A local password needs at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"A local password can have at most {MAX_LENGTH} characters."
    return None


def hash_new_password(password: str) -> str:
    """The hash to store for a new password; raise WeakPassword when the policy refuses it."""
    if problem := password_problem(password):
        raise WeakPassword(problem)
    return generate_password_hash(password)


def matches(password_hash: str | None, password: str) -> bool:
    """True when the password matches the hash. Without a hash (no such user, or a user who signs in through SSO
    only) a throwaway hash is checked instead, so every answer costs one hashing."""
    if not password_hash:
        check_password_hash(_throwaway_hash(), password)
        return False
    return check_password_hash(password_hash, password)


@cache
def _throwaway_hash() -> str:
    """A hash made with the same method and cost as a real one, of a password nobody knows."""
    return generate_password_hash(secrets.token_urlsafe(32))
