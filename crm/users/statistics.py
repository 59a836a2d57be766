"""Statistics for the bindings table before autovacuum gathers them (PostgreSQL).

Every sign-in and SCIM request looks a binding up by a provider's immutable id or NameID, each unique per provider
(user_identity). On a table PostgreSQL has never measured (a new installation: its first rollout day is when
everyone signs in for the first time) the planner cannot tell these unique indexes from the narrower one SCIM pages
with (provider_id, user_id) and takes the narrower: each lookup then reads every binding of the provider, a little
more at each new user (1.2 ms a first login at 2,000 users). Autovacuum measures the table within a minute or so of
the rush starting; until then, the ways in do it themselves, once, when they have created enough users for it to
matter.
"""
from __future__ import annotations

import logging
import threading

from sqlalchemy import text

from crm.extensions import db

log = logging.getLogger(__name__)
EVERY = 100  # new bindings (in this process) before it looks whether the table was ever measured
LOCK_WAIT = "200ms"
_lock = threading.Lock()
_created = 0
_measured = False


def binding_created() -> None:
    """Count a new binding (after its transaction committed). Once per process, at the EVERY-th, when PostgreSQL has
    never measured user_identity, ANALYZE it, waiting no more than LOCK_WAIT for the table (another process may be
    measuring it); then never again: autovacuum keeps it measured."""
    global _created, _measured
    if _measured or db.engine.dialect.name != "postgresql":
        return
    with _lock:
        _created += 1
        if _created < EVERY or _measured:
            return
        _measured = True
    try:
        with db.engine.connect() as conn:
            if conn.scalar(text("SELECT reltuples < 0 FROM pg_class WHERE oid = 'user_identity'::regclass")):
                conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
                conn.execute(text("ANALYZE user_identity"))
                log.info("user_identity was never measured: analyzed it after %d new bindings", _created)
            conn.commit()
    except Exception:  # the users are created: a failed measurement leaves it to autovacuum, never fails them
        log.warning("could not measure user_identity", exc_info=True)
