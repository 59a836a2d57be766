"""What the SAML layer stores: the assertion ids already used (replay protection), recent attempts, this SP's own
keys and who fetched its metadata."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, DateTime, ForeignKey, Index, String, Text, event
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


# PostgreSQL: the response is kept as sent, without compressing it. Base64 of signed XML compresses by a third, and
# pglz took 160 µs of every sign-in to do it (storing it uncompressed, 40 µs); the table holds 50 rows a provider.
# (Migration 0026 does the same to a database made before.)
STORE_RESPONSES_UNCOMPRESSED = "ALTER TABLE sign_in_attempt ALTER COLUMN saml_response SET STORAGE EXTERNAL"
event.listen(SignInAttempt.__table__, "after_create",
             DDL(STORE_RESPONSES_UNCOMPRESSED).execute_if(dialect="postgresql"))


SP_KEY_ACTIVE = "active"  # published, decrypts, signs
SP_KEY_NEXT = "next"  # published beside the active one ahead of a rollover, decrypts, signs nothing yet


class SpKey(db.Model):
    """One of this service provider's own key pairs: published in every provider's SP metadata for signing and
    encryption. The private key is stored encrypted with a key derived from SECRET_KEY (sp_keys.py), so a copy of
    the database alone, or of git, never holds a usable key."""

    __tablename__ = "sp_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(10))
    certificate_pem: Mapped[str] = mapped_column(Text)
    private_key_ciphertext: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(95), unique=True)  # SHA-256 of the certificate, AA:BB:…

    # One active key and at most one next key, on every worker and server: a second one fails to insert.
    __table_args__ = (Index("ux_sp_key_state", "state", unique=True),)

    def __str__(self) -> str:
        return f"SP key {self.id} ({self.fingerprint[:23]}…)"


class MetadataFetch(db.Model):
    """When a provider last fetched our SP metadata: after a key rotation the SSO page shows which IdPs have picked
    up the new key and which ones the admin must still update by hand."""

    __tablename__ = "sp_metadata_fetch"

    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_provider.id", ondelete="CASCADE"),
                                             primary_key=True)
    last_fetched_at: Mapped[datetime] = mapped_column(DateTime)
    fetch_count: Mapped[int] = mapped_column(default=0)
    last_address: Mapped[str | None] = mapped_column(String(64))
