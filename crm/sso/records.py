"""What every sign-in leaves behind, written together at its end: the replay record (only while the provider's
configuration is still the one the response was checked with), the audit event, the attempt, and for a user who
signs in the session row and the returning user's time of sign-in.

On PostgreSQL they are one statement (data-modifying CTEs: one round trip to the server instead of five), in which
everything hangs on the replay record: when it is not written (the configuration changed), nothing is, so the
statement is whole on its own. On SQLite, where there is no network to save, plain statements one after another.

The same statement asks PostgreSQL not to wait for the disk when the sign-in's transaction commits
(`set_config('synchronous_commit', 'off', true)`: for this transaction only, no extra round trip). Waiting for the
write-ahead log's flush was most of a sign-in's database time. What it risks: if PostgreSQL itself crashes (or
fails over to a standby), the sign-ins of its last fraction of a second (about 0.6 s, three wal_writer_delay) are
lost whole: their sessions, new users, field changes, audit events and replay records together, as if they had
never happened (those people sign in again). Nothing is ever half-written. A lost replay record means the same
assertion would be taken once more until its NotOnOrAfter plus the clock skew, by whoever holds it: a window of
minutes that opens only with a database crash. A sign-in that takes roles away waits for the disk (a removed role
must not come back), and so does every other write of the console (configuration, SCIM, administrators' edits).
CRM_SIGN_IN_DURABLE_COMMIT=true makes every sign-in wait for it.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Insert, Select, bindparam, exists, func, insert, select
from sqlalchemy.exc import IntegrityError

from crm.audit.models import AuditEvent
from crm.audit.services import write_event
from crm.auth.models import User, UserSession
from crm.auth.sessions import write_session
from crm.identity_providers.config import ProviderConfig
from crm.identity_providers.models import IdentityProvider
from crm.sso.attempts import write_attempt
from crm.sso.models import SignInAttempt, UsedAssertion

_AUDIT, _ATTEMPT, _USED, _PROVIDERS = (AuditEvent.__table__, SignInAttempt.__table__, UsedAssertion.__table__,
                                       IdentityProvider.__table__)
AUDIT_COLUMNS = [c.name for c in _AUDIT.columns if c.name != "id"]
ATTEMPT_COLUMNS = [c.name for c in _ATTEMPT.columns if c.name not in ("id", "reference")]
_USED_COLUMNS = ["assertion_id", "provider_id", "used_at", "expires_at"]
_USERS, _SESSIONS = User.__table__, UserSession.__table__
SESSION_COLUMNS = [c.name for c in _SESSIONS.columns if c.name != "id"]


class Replayed(Exception):
    """The assertion id is recorded already: a second use of the same assertion."""


class ConfigChanged(Exception):
    """The provider's configuration changed since this worker read it: check the response again with the new one."""


def _binds(table, columns: list[str], prefix: str) -> list:
    return [bindparam(f"{prefix}{name}", type_=table.c[name].type) for name in columns]


def remember_assertion() -> Insert:
    """INSERT ... SELECT the assertion's row WHERE the provider still has the configuration version checked."""
    current = exists().where(_PROVIDERS.c.id == bindparam("r_provider_id"),
                             _PROVIDERS.c.config_version == bindparam("r_config_version"),
                             _PROVIDERS.c.created_at == bindparam("r_created_at", type_=_PROVIDERS.c.created_at.type))
    return (insert(_USED).from_select(_USED_COLUMNS, select(*_binds(_USED, _USED_COLUMNS, "r_")).where(current))
            .returning(_USED.c.assertion_id))


def _all_in_one(durable: bool):
    """Every write as one statement, each hanging on the replay record's row; it returns how many replay records
    were written (0 or 1). The session row is written only when a user id is given. Unless `durable`, the
    transaction's commit does not wait for the disk (see the module's docstring)."""
    used = remember_assertion().cte("used")
    audit = (insert(_AUDIT).from_select(AUDIT_COLUMNS, select(*_binds(_AUDIT, AUDIT_COLUMNS, "a_")).select_from(used))
             .returning(_AUDIT.c.reference).cte("audit"))
    attempt = (insert(_ATTEMPT).from_select(ATTEMPT_COLUMNS + ["reference"],
                                            select(*_binds(_ATTEMPT, ATTEMPT_COLUMNS, "t_"), audit.c.reference))
               .returning(_ATTEMPT.c.id).cte("attempt"))
    stamp = _STAMP.where(exists(select(used.c.assertion_id))).returning(_USERS.c.id).cte("stamp")
    session_binds = _binds(_SESSIONS, SESSION_COLUMNS, "u_")
    session = (insert(_SESSIONS).from_select(SESSION_COLUMNS, select(*session_binds).select_from(used)
                                             .where(session_binds[SESSION_COLUMNS.index("user_id")].is_not(None)))
               .returning(_SESSIONS.c.id).cte("session"))
    count = select(func.count()).select_from(used).add_cte(audit, attempt, stamp, session)
    return unless_durable(count, durable)


def unless_durable(statement: Select, durable: bool) -> Select:
    """The statement, asking PostgreSQL not to wait for the disk when its transaction commits, unless `durable` (the
    module's docstring says what that trades)."""
    return statement if durable else statement.add_columns(func.set_config("synchronous_commit", "off", True))


# Built once per process: each sign-in only binds its values.
_STAMP = _USERS.update().where(_USERS.c.id == bindparam("s_user_id")).values(last_login_at=bindparam("s_at"))
_REMEMBER = remember_assertion()
_ALL_IN_ONE = {durable: _all_in_one(durable) for durable in (True, False)}


def write_sign_in_records(conn: Connection, config: ProviderConfig, used: dict[str, Any], audit: dict[str, Any],
                          attempt: dict[str, Any], returning_user: int | None,
                          session: dict[str, Any] | None, durable: bool = False) -> None:
    """Write the replay record, the audit event, the attempt and the session of a user who signs in (rows without
    their prefixes), and stamp the time of sign-in of a returning user; Replayed when the assertion was used before,
    ConfigChanged when the provider's configuration is no longer the one checked (nothing is written then).
    `durable`: the commit waits for the disk (PostgreSQL; see the module's docstring)."""
    guard = config_guard(config)
    stamp = {"s_user_id": returning_user, "s_at": used["used_at"]}
    with replays_refused():
        if conn.dialect.name == "postgresql":
            params = ({f"a_{k}": audit.get(k) for k in AUDIT_COLUMNS} | {f"r_{k}": v for k, v in used.items()}
                      | {f"t_{k}": attempt.get(k) for k in ATTEMPT_COLUMNS} | guard | stamp
                      | {f"u_{k}": (session or {}).get(k) for k in SESSION_COLUMNS})
            written = conn.execute(_ALL_IN_ONE[durable], params).first()[0]
        else:
            written = len(conn.execute(_REMEMBER, {f"r_{k}": v for k, v in used.items()} | guard).all())
            if written == 1:
                write_event(conn, audit)
                write_attempt(conn, attempt)
                if returning_user is not None:
                    conn.execute(_STAMP, stamp)
                if session is not None:
                    write_session(conn, session)
    if written != 1:
        raise ConfigChanged()


def config_guard(config: ProviderConfig) -> dict[str, Any]:
    """The replay record's condition: the provider still has the configuration the response was checked with."""
    _provider_id, version, created_at = config.version
    return {"r_config_version": version, "r_created_at": created_at}


@contextmanager
def replays_refused() -> Iterator[None]:
    """Around the statements that write the replay record: Replayed when its unique key refuses the write (the
    assertion was used before); any other IntegrityError goes on as it is."""
    try:
        yield
    except IntegrityError as error:
        if _is_replay(error):
            raise Replayed() from None
        raise


def _is_replay(error: IntegrityError) -> bool:
    """True when the unique key that refused the write is the replay record's."""
    constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    return constraint == "pk_used_assertion" or (constraint is None and "used_assertion" in str(error.orig))
