"""`flask --app app audit ...`: the audit trail for scripts."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.cli import print_json
from crm.extensions import db

cli = AppGroup("audit", help="Read the audit trail.")


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def audit_list(as_json: bool, limit: int) -> None:
    """Audit events, newest first."""
    stmt = select(AuditEvent).order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit)
    rows = [{"reference": e.reference, "occurred_at": e.occurred_at.isoformat(), "category": e.category,
             "action": e.action, "actor": e.actor_name, "summary": e.summary, "idp": e.idp_slug,
             "name_id": e.name_id, "outcome": e.outcome, "reason": e.reason, "changes": e.changes,
             "details": e.details, "repeat_count": e.repeat_count,
             "last_seen_at": e.last_seen_at.isoformat() if e.last_seen_at else None} for e in db.session.scalars(stmt)]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        click.echo(f"{row['occurred_at']}  {row['reference']}  {row['summary']}"
                   + (f"  [{row['outcome']}]" if row["outcome"] else "")
                   + (f"  x{row['repeat_count']}, last {row['last_seen_at']}" if row["repeat_count"] > 1 else ""))
