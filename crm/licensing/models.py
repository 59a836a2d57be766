"""License packages and the seats users hold."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.search_keys import KeepsNameKey, key_type
from crm.timeutil import utcnow

if TYPE_CHECKING:
    from crm.auth.models import User


class LicensePackage(KeepsNameKey, db.Model):
    """A package with a seat limit (None = unlimited).

    `seats_used` is kept by one conditional UPDATE per grant (see licensing.services), and the check
    constraint makes the database itself refuse a seat beyond the limit.
    """

    __tablename__ = "license_package"
    __table_args__ = (
        CheckConstraint("seat_limit IS NULL OR seats_used <= seat_limit", name="seats_within_limit"),
        CheckConstraint("seats_used >= 0", name="seats_used_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(key_type(100), unique=True)
    seat_limit: Mapped[int | None] = mapped_column(Integer)
    seats_used: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    seats: Mapped[list[LicenseSeat]] = relationship(back_populates="package", cascade="all, delete-orphan")

    @property
    def unlimited(self) -> bool:
        """True when the package has no seat limit."""
        return self.seat_limit is None

    @property
    def seats_free(self) -> int | None:
        """Seats still free, or None when unlimited."""
        return None if self.seat_limit is None else max(self.seat_limit - self.seats_used, 0)

    def __str__(self) -> str:
        return self.name


class LicenseSeat(db.Model):
    """One user holding one seat of a package."""

    __tablename__ = "license_seat"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    package_id: Mapped[int] = mapped_column(
        ForeignKey("license_package.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    granted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    granted_by: Mapped[str | None] = mapped_column(String(150))

    package: Mapped[LicensePackage] = relationship(back_populates="seats", lazy="joined")
    user: Mapped[User] = relationship(back_populates="seats")
