"""What the SAML layer stores: the assertion ids already used (replay protection)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import db
from crm.timeutil import utcnow


class UsedAssertion(db.Model):
    """An assertion ID seen once from a provider. The primary key makes a second use fail on every worker and
    server; the row is dropped once the assertion has expired (it is refused by then anyway)."""

    __tablename__ = "used_assertion"

    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_provider.id", ondelete="CASCADE"),
                                             primary_key=True)
    assertion_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class SignInAttempt(db.Model):
    """A recent SAMLResponse as received, so an admin can open it as a report (last 50 per provider, 7 days).

    The response is kept whole because the report re-runs every check on it (the signature too); it is
    shown to admins only as checks, NameID and attributes, never as signature values.
    """

    __tablename__ = "sign_in_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_provider.id", ondelete="CASCADE"), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    name_id: Mapped[str | None] = mapped_column(String(250))
    reference: Mapped[str | None] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(256))  # the AuthnRequest this browser had pending
    saml_response: Mapped[str] = mapped_column(Text)
