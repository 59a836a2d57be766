"""Failed password sign-ins in the audit trail: one event per burst of failures, its count kept up to date."""
from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import select

from crm.audit.models import ADMIN, AuditEvent
from crm.audit.services import record
from crm.auth.throttling import FailureBurst, record_failures_with
from crm.extensions import db

ACTION = "auth.password_failed"
MAX_ADDRESSES = 20  # listed in the event; more are counted as "more"


def record_password_failures(burst: FailureBurst) -> str:
    """Write the burst's event at its first failure and update it at each later one; return its reference."""
    event = (db.session.scalar(select(AuditEvent).where(AuditEvent.reference == burst.reference))
             if burst.reference else None)
    seen = dict(event.details) if event is not None else {}
    addresses, more = list(seen.get("addresses", [])), bool(seen.get("more_addresses"))
    if burst.address not in addresses:
        more = more or len(addresses) >= MAX_ADDRESSES
        addresses = addresses if more else [*addresses, burst.address]
    details = {"failures": burst.failures, "addresses": addresses, "more_addresses": more,
               "first": _iso(burst.started), "last": _iso(burst.last), "known_user": burst.user_id is not None,
               "next_try_waits_seconds": burst.wait}
    count = f"{len(addresses)}{'+' if more else ''} address{'es' if more or len(addresses) != 1 else ''}"
    summary = (f"{burst.failures} wrong password{'s' if burst.failures != 1 else ''} for {burst.username} "
               f"from {count}")
    reason = f"password sign-in failed {burst.failures} time(s) from {_iso(burst.started)} to {_iso(burst.last)}"
    if event is None:
        event = record(ACTION, summary, category=ADMIN, actor=(None, "anonymous"), target_type="User",
                       target_id=burst.user_id, target_label=burst.username, outcome="failed", reason=reason,
                       details=details)
        db.session.flush()
    else:
        event.summary, event.reason, event.details = summary, reason, details
    return event.reference


def audit_password_failures(app: Flask) -> None:
    """Record bursts of failed password sign-ins in the audit trail."""
    record_failures_with(app, record_password_failures)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
