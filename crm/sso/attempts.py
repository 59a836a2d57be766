"""Keeping the recent sign-in attempts per provider (the last 50, for 7 days) for the troubleshooting reports."""
from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import Connection, delete, insert, select

from crm.extensions import db
from crm.sso.models import SignInAttempt
from crm.timeutil import utcnow

KEEP_PER_PROVIDER = 50
TEST = "test"  # the outcome of an admin's Test Sign In: reported, never provisioned
KEEP_FOR = timedelta(days=7)
# The list shows the last 50; the table holds up to about 100 between prunes. Pruning one attempt in ten cost 0.1 ms
# of every PostgreSQL sign-in on average (a DELETE of a few rows and their stored responses, one more round trip).
PRUNE_EVERY = 50
# Real responses are 10-40 KB (Entra with 150 groups about 40): a larger one is kept out of the list, so that a
# refused hostile body costs no more than a valid sign-in (its audit event still records the refusal).
KEEP_MAX_CHARS = 64 * 1024


_INSERT_ATTEMPT = insert(SignInAttempt.__table__).returning(SignInAttempt.id)  # built once per process


def record_attempt(conn: Connection, provider_id: int, saml_response: str | None, outcome: str, *,
                   name_id: str | None = None, reference: str | None = None,
                   request_id: str | None = None) -> int | None:
    """Store one attempt in the caller's transaction and return its id (None for an empty response or one over
    64 KB, which is not kept); now and then drop those beyond the last 50 or older than 7 days."""
    if not saml_response or len(saml_response) > KEEP_MAX_CHARS:
        return None
    row = attempt_row(provider_id, saml_response, outcome, name_id=name_id, reference=reference,
                      request_id=request_id)
    attempt_id = write_attempt(conn, row)
    now_and_then_prune(conn, provider_id)
    return attempt_id


def write_attempt(conn: Connection, row: dict) -> int:
    """Write an attempt row (from attempt_row) with one INSERT on the caller's connection; return its id."""
    return conn.execute(_INSERT_ATTEMPT, row).scalar_one()


def attempt_row(provider_id: int, saml_response: str, outcome: str, *, name_id: str | None = None,
                reference: str | None = None, request_id: str | None = None) -> dict:
    """The sign_in_attempt row for a response (the caller writes it)."""
    return {"provider_id": provider_id, "saml_response": saml_response, "outcome": outcome, "received_at": utcnow(),
            "name_id": (name_id or "")[:250] or None, "reference": reference,
            "request_id": (request_id or "")[:256] or None}


def prune_due() -> bool:
    """Whether this attempt prunes the provider's list: about one in fifty (the list shows the last 50 whatever the
    table holds)."""
    return secrets.randbelow(PRUNE_EVERY) == 0


def now_and_then_prune(conn: Connection, provider_id: int) -> None:
    """Prune the provider's list when prune_due says so."""
    if prune_due():
        prune_attempts(conn, provider_id)


def prune_attempts(conn: Connection, provider_id: int) -> None:
    """Drop the provider's attempts beyond the last 50 or older than 7 days (in the caller's transaction)."""
    newest = (select(SignInAttempt.id).where(SignInAttempt.provider_id == provider_id)
              .order_by(SignInAttempt.id.desc()).limit(KEEP_PER_PROVIDER))
    conn.execute(delete(SignInAttempt).where(
        SignInAttempt.provider_id == provider_id,
        (SignInAttempt.received_at < utcnow() - KEEP_FOR) | SignInAttempt.id.not_in(newest.scalar_subquery())))


def recent_attempts(provider_id: int) -> list[SignInAttempt]:
    """The provider's attempts of the last 7 days, newest first."""
    return list(db.session.scalars(
        select(SignInAttempt).where(SignInAttempt.provider_id == provider_id,
                                    SignInAttempt.received_at >= utcnow() - KEEP_FOR)
        .order_by(SignInAttempt.id.desc()).limit(KEEP_PER_PROVIDER)))
