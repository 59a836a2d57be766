"""The audit trail: administrative changes and SSO provisioning events in one table."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import db
from crm.timeutil import utcnow

ADMIN = "admin"
CONFIG = "config"
PROVISIONING = "provisioning"
CATEGORIES = (ADMIN, CONFIG, PROVISIONING)
REJECTED = "sso.rejected"  # a refused SAML message: the events the refusal retention prunes
# The columns the audit page filters on by equality; the user filter matches any of the last three.
FILTERED = ("category", "outcome", "idp_slug", "actor_name", "target_label", "name_id")


class AuditEvent(db.Model):
    """Who did what, when, to what, with every changed field as before -> after.

    A refusal repeated by one client (same provider, same reason, same minute) is one event counted `repeat_count`
    times, last at `last_seen_at`: `fold_key` names that client, provider, reason and minute (see fold_key()).
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        # Each filter of the audit page walks its own index in the list's order (newest first), so a page is the
        # 25 rows after a place in one index, at a million events as at a hundred.
        Index("ix_audit_event_occurred_at_id", "occurred_at", "id"),
        *(Index(f"ix_audit_event_{column}_occurred_at_id", column, "occurred_at", "id") for column in FILTERED),
        Index("ix_audit_event_idp_slug_outcome_occurred_at_id", "idp_slug", "outcome", "occurred_at", "id"),
        Index("ix_audit_event_fold_key", "fold_key", unique=True, sqlite_where=text("fold_key IS NOT NULL"),
              postgresql_where=text("fold_key IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    category: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(250))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[int | None] = mapped_column(Integer)
    target_label: Mapped[str | None] = mapped_column(String(250))
    summary: Mapped[str] = mapped_column(Text)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Provisioning events (SSO sign-ins) fill these too, so /audit can filter on them.
    idp_slug: Mapped[str | None] = mapped_column(String(60))
    name_id: Mapped[str | None] = mapped_column(String(250))
    outcome: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    repeat_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime)
    fold_key: Mapped[str | None] = mapped_column(String(64))
