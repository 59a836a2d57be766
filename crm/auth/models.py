"""Who signs in: the CRM user (username, local password for break-glass admins, active flag).

The user's contact, roles, seats and SSO binding are relationships by name: the areas that own them sit above.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from crm.auth import passwords
from crm.auth.permissions import ADMINISTER, effective
from crm.extensions import db
from crm.search_keys import ASCII_WHITESPACE, fold, key_type
from crm.timeutil import utcnow

if TYPE_CHECKING:
    from crm.contacts.models import Contact
    from crm.licensing.models import LicenseSeat
    from crm.roles.models import RoleMembership
    from crm.users.models import UserIdentity

USER_TYPES = ("employee", "external")


class User(UserMixin, db.Model):
    """A user of the CRM. Usernames are unique compared case-insensitively (`username_key`)."""

    # "user" is a reserved word in PostgreSQL.
    __tablename__ = "user_account"
    __table_args__ = (CheckConstraint("user_type IN ('employee', 'external')", name="user_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(250))
    username_key: Mapped[str] = mapped_column(key_type(250), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why an inactive user is inactive: "scim" (the directory deactivated or deleted them: a SAML sign-in never
    # brings them back), "admin", "dormant"; None for an active user or one deactivated before reasons were kept.
    # Indexed: SCIM leaves out the few users a directory deleted without reading every user (migration 0017).
    inactive_reason: Mapped[str | None] = mapped_column(String(20), index=True)
    # "scim" for a user the directory created; None otherwise (JIT when bound to a provider, else manual).
    source: Mapped[str | None] = mapped_column(String(10))
    user_type: Mapped[str] = mapped_column(String(20), default="employee")
    # A break-glass administrator keeps a password where single sign-on is required (at most 3; each sign-in audited)
    break_glass: Mapped[bool] = mapped_column(Boolean, server_default=false())  # (a database default only: the
    # first sign-in inserts users inside a CTE, where SQLAlchemy fills in no Python-side default)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    # When an administrator, the directory or a sign-in last made the user active again: the dormant clock starts
    # over then, so a user reactivated by hand is not reclaimed again before they had the chance to sign in.
    reactivated_at: Mapped[datetime | None] = mapped_column(DateTime)

    contact: Mapped[Contact | None] = relationship(lazy="joined")
    memberships: Mapped[list[RoleMembership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="RoleMembership.role_id"
    )
    seats: Mapped[list[LicenseSeat]] = relationship(back_populates="user", cascade="all, delete-orphan")
    identity: Mapped[UserIdentity | None] = relationship(back_populates="user", cascade="all, delete-orphan",
                                                         uselist=False)

    @validates("username")
    def _keep_key(self, _key: str, value: str) -> str:
        value = value.strip(ASCII_WHITESPACE)
        self.username_key = fold(value)
        return value

    def set_password(self, password: str) -> None:
        """Store a werkzeug hash of the password (local sign-in for break-glass admins); raise
        passwords.WeakPassword when it is shorter than the policy's minimum."""
        self.password_hash = passwords.hash_new_password(password)

    def check_password(self, password: str) -> bool:
        """True when the password matches; False for users without a local password (after the same work)."""
        return passwords.matches(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # flask-login refuses inactive users
        return self.active

    seat_known = None  # True or False, set when the request's user is loaded, so that no page asks again

    @property
    def has_seat(self) -> bool:
        """True when the user holds a license seat (the right to work with the CRM's records)."""
        return self.seat_known if self.seat_known is not None else bool(self.seats)

    @property
    def granted(self) -> frozenset[str]:
        """The permissions the user's roles grant, as the roles state them."""
        return frozenset(g.permission for m in self.memberships for g in m.role.grants)

    @property
    def permissions(self) -> frozenset[str]:
        """What the user may do now: their roles' permissions, all of them for an administrator, and nothing with
        the CRM's records without a license seat."""
        return effective(self.granted, self.has_seat)

    def can(self, permission: str) -> bool:
        """True when the user may do this (a name from crm.auth.permissions)."""
        return permission in self.permissions

    @property
    def is_admin(self) -> bool:
        """True when one of the user's roles lets them administer the system."""
        return ADMINISTER in self.granted

    @property
    def is_external(self) -> bool:
        """External users (partners, customers) see only their own account and its contacts."""
        return self.user_type == "external"

    @property
    def account_id(self) -> int | None:
        """The account of the user's own contact, if any."""
        return self.contact.account_id if self.contact else None

    @property
    def display_name(self) -> str:
        """The contact's name when there is one, else the username."""
        return self.contact.full_name if self.contact and self.contact.full_name else self.username

    def __str__(self) -> str:
        return self.username


class UserSession(db.Model):
    """One signed-in browser: the cookie carries only a random token, whose SHA-256 is kept here (a copy of this
    table signs no one in). Deleting the row ends the session at once, wherever its cookie is."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(120))  # "password" or "sso:<provider slug>"
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)  # (no index: pruning is rare, every sign-in writes)
    user_agent: Mapped[str | None] = mapped_column(String(120))


class SessionPolicy(db.Model):
    """The console's own session rule set on the Single Sign On configuration page: how long a session may go unused.
    One row (id 1), written when an administrator first sets it; until then the server's default holds
    (CRM_SESSION_IDLE_MINUTES). Every request reads it in the statement that finds its session."""

    __tablename__ = "session_policy"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),
                      CheckConstraint("idle_minutes BETWEEN 5 AND 1440", name="idle_minutes_range"))

    id: Mapped[int] = mapped_column(primary_key=True)
    idle_minutes: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
