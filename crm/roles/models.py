"""Roles (Creatio: user groups / organisational roles) and who belongs to them."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.search_keys import KeepsNameKey, key_type
from crm.timeutil import utcnow

if TYPE_CHECKING:
    from crm.auth.models import User

MANUAL = "manual"
SSO = "sso"


class Role(KeepsNameKey, db.Model):
    """A role users are connected to; `grants_admin` roles open the administration pages."""

    __tablename__ = "role"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(key_type(100), unique=True)
    description: Mapped[str | None] = mapped_column(String(250))
    grants_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    memberships: Mapped[list[RoleMembership]] = relationship(
        back_populates="role", cascade="all, delete-orphan"
    )

    def __str__(self) -> str:
        return self.name


class RoleMembership(db.Model):
    """A user in a role; `source` says whether an admin added it or SSO manages it."""

    __tablename__ = "role_membership"
    __table_args__ = (CheckConstraint("source IN ('manual', 'sso')", name="source"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"), primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(10), default=MANUAL)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    role: Mapped[Role] = relationship(back_populates="memberships", lazy="joined")
    user: Mapped[User] = relationship(back_populates="memberships")
