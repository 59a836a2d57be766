"""Writing audit events. An event is added to the caller's transaction, never committed on its own."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import click
from flask import has_request_context
from flask_login import current_user
from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from crm.audit.models import ADMIN, AuditEvent
from crm.extensions import db
from crm.timeutil import utcnow

_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_reference() -> str:
    """A short code a user can read out to an admin, e.g. 'EV-7KQ2MX9P'."""
    # One call for eight random bytes; each byte's low five bits pick one of the 32 characters (256 is a multiple of
    # 32, so every character is as likely): secrets.choice asked the system for randomness once per character.
    return "EV-" + "".join(_REFERENCE_ALPHABET[byte & 31] for byte in secrets.token_bytes(8))


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
        "repeat_count": 1,
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


# --- repeated refusals: one event per client, provider, reason and minute, counted ---------------------------

_EVENTS = AuditEvent.__table__
PRUNE_BATCH = 1_000  # old events one prune deletes at most: a write never waits for a large backlog


def fold_key(action: str, client: str | None, provider: str | None, reason: str, at: datetime) -> str:
    """What makes two refusals "the same": the action, client address, provider, reason code and minute."""
    key = "\n".join((action, client or "", provider or "", reason, at.strftime("%Y-%m-%dT%H:%M")))
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def _folding_insert(dialect: str):
    table, ins = _EVENTS, (postgresql.insert if dialect == "postgresql" else sqlite.insert)
    stmt = ins(table)
    return (stmt.on_conflict_do_update(index_elements=[table.c.fold_key], index_where=table.c.fold_key.is_not(None),
                                       set_={"repeat_count": table.c.repeat_count + 1,
                                             "last_seen_at": stmt.excluded.occurred_at})
            .returning(table.c.reference, table.c.repeat_count))


_FOLDING_INSERTS = {name: _folding_insert(name) for name in ("postgresql", "sqlite")}  # built once per process


def fold_event(conn: Connection, row: dict[str, Any], key: str) -> tuple[str, bool]:
    """Write the event row, or, when an event with the same fold key exists (the same refusal by the same client this
    minute), count it there and note when it was last seen; one statement either way. Returns the reference and
    whether a new event was written."""
    reference, count = conn.execute(_FOLDING_INSERTS[conn.dialect.name], row | {"fold_key": key}).one()
    return reference, count == 1


def prune_events(conn: Connection, older_than: timedelta, **match: str) -> int:
    """Delete up to PRUNE_BATCH events with these column values older than `older_than` (in the caller's
    transaction); return how many. Called on write, now and then: a retention without a cron job. Give `outcome`:
    its index, in time order, finds the old ones."""
    cutoff = utcnow() - older_than
    old = (select(_EVENTS.c.id).where(*(_EVENTS.c[k] == v for k, v in match.items()), _EVENTS.c.occurred_at < cutoff)
           .order_by(_EVENTS.c.occurred_at).limit(PRUNE_BATCH))
    return conn.execute(delete(_EVENTS).where(_EVENTS.c.id.in_(old.scalar_subquery()))).rowcount


def latest(idp_slug: str, category: str, action_prefix: str, limit: int = 10) -> list[AuditEvent]:
    """A provider's latest events of a category whose action starts with the prefix (e.g. what its directory sent
    lately), newest first; walks the idp_slug index newest first and stops after `limit` matches."""
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.idp_slug == idp_slug, AuditEvent.category == category,
                                 AuditEvent.action.startswith(action_prefix))
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit)))
