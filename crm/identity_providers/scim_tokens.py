"""SCIM bearer tokens: one provider's directory connection. A token is 256 random bits, shown once; only its SHA-256
is stored, and a presented token is looked up by that hash and compared in constant time. Two may be valid at once
(rotation: the directory switches to the new one, then the old one is revoked); a third revokes the oldest."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.audit import services as audit
from crm.audit.models import CONFIG
from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from crm.timeutil import utcnow

TOKEN_PREFIX = "crm-scim-"
VALID_AT_ONCE = 2
LAST_USED_EVERY_SECONDS = 60  # last_used_at is written at most once a minute per token


class ScimToken(db.Model):
    """A bearer token a directory (Okta, Entra ID) uses on /scim/v2 for one provider's users."""

    __tablename__ = "scim_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_provider.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(20))  # the token's last characters, to tell tokens apart on the page
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    provider: Mapped[IdentityProvider] = relationship(lazy="joined")

    @property
    def valid(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(provider: IdentityProvider) -> tuple[ScimToken, str]:
    """Make a token for the provider (the caller commits) and return it with its secret, which is never stored;
    when VALID_AT_ONCE tokens are valid already, the oldest is revoked."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)  # 32 bytes: 256 bits
    row = ScimToken(provider_id=provider.id, token_hash=_hash(secret), hint=secret[-4:], created_at=utcnow())
    valid = valid_tokens(provider)
    for old in valid[: max(0, len(valid) - VALID_AT_ONCE + 1)]:
        revoke(old, why="rotated out by a new token")
    db.session.add(row)
    db.session.flush()
    audit.record("scim.token_create", f"Generated SCIM token {row.id} for {provider.slug}", category=CONFIG,
                 idp_slug=provider.slug, details={"token_id": row.id, "hint": row.hint})
    return row, secret


def valid_tokens(provider: IdentityProvider) -> list[ScimToken]:
    """The provider's tokens that are not revoked, oldest first."""
    return list(db.session.scalars(select(ScimToken).where(ScimToken.provider_id == provider.id,
                                                           ScimToken.revoked_at.is_(None)).order_by(ScimToken.id)))


def all_tokens(provider: IdentityProvider) -> list[ScimToken]:
    """Every token of the provider, newest first."""
    return list(db.session.scalars(select(ScimToken).where(ScimToken.provider_id == provider.id)
                                   .order_by(ScimToken.id.desc())))


def find_token(provider: IdentityProvider, token_id: int) -> ScimToken | None:
    """The provider's token with this id."""
    row = db.session.get(ScimToken, token_id)
    return row if row is not None and row.provider_id == provider.id else None


def revoke(row: ScimToken, why: str = "revoked") -> bool:
    """Revoke a token (the caller commits); False when it was revoked already."""
    if row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    audit.record("scim.token_revoke", f"Revoked SCIM token {row.id} of {row.provider.slug}", category=CONFIG,
                 idp_slug=row.provider.slug, details={"token_id": row.id, "hint": row.hint, "why": why})
    return True


def authenticate(presented: str | None) -> ScimToken | None:
    """The valid token whose secret this is (its provider's SCIM switched on), or None; notes when it was used."""
    if not presented or len(presented) > 200:
        return None
    digest = _hash(presented)
    row = db.session.scalar(select(ScimToken).where(ScimToken.token_hash == digest, ScimToken.revoked_at.is_(None)))
    if row is None or not hmac.compare_digest(row.token_hash, digest) or not row.provider.scim_enabled:
        return None
    now = utcnow()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() >= LAST_USED_EVERY_SECONDS:
        row.last_used_at = now
    return row
