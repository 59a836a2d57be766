"""Writing audit events. An event is added to the caller's transaction, never committed on its own."""
from __future__ import annotations

import secrets
from typing import Any

import click
from flask import has_request_context
from flask_login import current_user
from sqlalchemy import Connection, insert

from crm.audit.models import ADMIN, AuditEvent
from crm.extensions import db
from crm.timeutil import utcnow

_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_reference() -> str:
    """A short code a user can read out to an admin, e.g. 'EV-7KQ2MX9P'."""
    return "EV-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The fields whose value differs, as {field: {"before": old, "after": new}}."""
    fields = list(before) + [k for k in after if k not in before]
    return {
        f: {"before": before.get(f), "after": after.get(f)}
        for f in fields
        if before.get(f) != after.get(f)
    }


def _actor() -> tuple[int | None, str]:
    if has_request_context() and current_user and current_user.is_authenticated:
        return current_user.id, current_user.username
    if click.get_current_context(silent=True) is not None:
        return None, "cli"
    return None, "system"


def event_row(action: str, summary: str, *, category: str = ADMIN, target: Any = None,
              changes: dict[str, Any] | None = None, details: dict[str, Any] | None = None,
              actor: tuple[int | None, str] | None = None, **columns: Any) -> dict[str, Any]:
    """The audit_event row for an event (a new reference; the actor is the signed-in user unless given)."""
    actor_id, actor_name = actor or _actor()
    return {
        "reference": new_reference(),
        "occurred_at": utcnow(),
        "category": category,
        "action": action,
        "summary": summary,
        "actor_id": actor_id,
        "actor_name": actor_name,
        "target_type": type(target).__name__ if target is not None else columns.pop("target_type", None),
        "target_id": getattr(target, "id", None) if target is not None else columns.pop("target_id", None),
        "target_label": str(target) if target is not None else columns.pop("target_label", None),
        "changes": changes or {},
        "details": details or {},
        **columns,
    }


def record(action: str, summary: str, **fields: Any) -> AuditEvent:
    """Add an audit event to the current transaction and return it (the caller commits)."""
    event = AuditEvent(**event_row(action, summary, **fields))
    db.session.add(event)
    return event


def insert_event(conn: Connection, action: str, summary: str, **fields: Any) -> str:
    """Write an audit event with one INSERT on the caller's connection (its transaction); return its reference."""
    row = event_row(action, summary, **fields)
    write_event(conn, row)
    return row["reference"]


def write_event(conn: Connection, row: dict[str, Any]) -> None:
    """Write an event row (from event_row) with one INSERT on the caller's connection."""
    conn.execute(_INSERT_EVENT, row)


_INSERT_EVENT = insert(AuditEvent.__table__)  # built once; each event binds its row
