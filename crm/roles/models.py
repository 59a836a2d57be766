"""Roles (Creatio: user groups / organisational roles) and who belongs to them."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.permissions import ADMINISTER
from crm.extensions import db
from crm.search_keys import KeepsNameKey, key_type
from crm.timeutil import utcnow

if TYPE_CHECKING:
    from crm.auth.models import User

MANUAL = "manual"
SSO = "sso"  # the SAML sign-in manages it, from the assertion's groups
DIRECTORY = "scim"  # the directory's groups give it (crm.identity_providers.directory_groups)


class Role(KeepsNameKey, db.Model):
    """A role users are connected to; its permissions say what its members may do (crm.auth.permissions)."""

    __tablename__ = "role"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(key_type(100), unique=True)
    description: Mapped[str | None] = mapped_column(String(250))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    memberships: Mapped[list[RoleMembership]] = relationship(
        back_populates="role", cascade="all, delete-orphan"
    )
    # A signed-in user's roles come with their permissions in the statement that loads the user (crm.auth.sessions);
    # elsewhere a list of roles reads them all in one more statement.
    grants: Mapped[list[RolePermission]] = relationship(cascade="all, delete-orphan", lazy="selectin",
                                                        order_by="RolePermission.permission")

    @property
    def permissions(self) -> frozenset[str]:
        """The names of the permissions this role grants."""
        return frozenset(g.permission for g in self.grants)

    @property
    def grants_admin(self) -> bool:
        """True when the role lets its members administer the system."""
        return ADMINISTER in self.permissions

    def __str__(self) -> str:
        return self.name


class RolePermission(db.Model):
    """One permission a role grants (crm.auth.permissions names them)."""

    __tablename__ = "role_permission"

    role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"), primary_key=True)
    permission: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)


class RoleMembership(db.Model):
    """A user in a role; `source` says whether an admin added it, the SAML sign-in manages it or the directory's
    groups give it."""

    __tablename__ = "role_membership"
    __table_args__ = (CheckConstraint("source IN ('manual', 'sso', 'scim')", name="source"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"), primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(10), default=MANUAL)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    role: Mapped[Role] = relationship(back_populates="memberships", lazy="joined")
    user: Mapped[User] = relationship(back_populates="memberships")
