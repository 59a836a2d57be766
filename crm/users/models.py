"""The user's SSO binding: which identity provider vouches for a user, under which NameID."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import DateTime, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from crm.extensions import db
from crm.search_keys import ASCII_WHITESPACE, fold, key_type
from crm.timeutil import utcnow

if TYPE_CHECKING:
    from crm.auth.models import User
    from crm.identity_providers.models import IdentityProvider


class UserIdentity(db.Model):
    """The user's SSO binding: which IdP vouches for them, under which NameID (and immutable id).

    One binding per user: an assertion from another IdP never signs this user in (no takeover).
    """

    __tablename__ = "user_identity"
    # Every sign-in looks the binding up by immutable id first (then by NameID): both are unique per provider, so
    # two ways in (SSO and SCIM) can never bind one person to two users. SCIM pages through a provider's users in
    # user order from (provider_id, user_id) alone (migration 0017).
    __table_args__ = (UniqueConstraint("provider_id", "name_id_key"),
                      Index(None, "provider_id", "immutable_id", unique=True),
                      Index("ix_user_identity_provider_id_user_id", "provider_id", "user_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), unique=True)
    # (no index of its own: the three above lead with it; migration 0025 says why one was dropped)
    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_provider.id", ondelete="CASCADE"))
    name_id: Mapped[str] = mapped_column(String(250))
    name_id_key: Mapped[str] = mapped_column(key_type(250))
    immutable_id: Mapped[str | None] = mapped_column(String(250))
    # The directory's facts about the person (SCIM's enterprise employeeNumber, and manager: the manager's SCIM id),
    # as it sent them; the manager may be pushed after the person, so it is kept as sent, not as a foreign key
    employee_number: Mapped[str | None] = mapped_column(String(100))
    manager: Mapped[str | None] = mapped_column(String(250))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="identity")
    provider: Mapped[IdentityProvider] = relationship(lazy="joined")

    @validates("name_id")
    def _keep_key(self, _key: str, value: str) -> str:
        value = value.strip(ASCII_WHITESPACE)
        self.name_id_key = fold(value)
        return value
