"""What the SAML layer stores: the assertion ids already used (replay protection)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import db
from crm.timeutil import utcnow


class UsedAssertion(db.Model):
    """An assertion ID seen once. The primary key makes a second use fail on every worker and server."""

    __tablename__ = "used_assertion"

    assertion_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_provider.id", ondelete="CASCADE"))
    used_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
