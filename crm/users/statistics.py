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
from sqlalchemy.exc import DBAPIError

from crm.extensions import db

log = logging.getLogger(__name__)
EVERY = 100  # new bindings (in this process) between two looks at whether the table was ever measured
_lock = threading.Lock()
_created = 0
_measured = False


def binding_created() -> None:
    """Count a new binding (after its transaction committed); now and then, when PostgreSQL has never measured
    user_identity, ANALYZE it (on a connection of its own, outside any transaction)."""
    global _created, _measured
    if _measured or db.engine.dialect.name != "postgresql":
        return
    with _lock:
        _created += 1
        due = _created % EVERY == 0
    if not due:
        return
    try:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if conn.scalar(text("SELECT reltuples < 0 FROM pg_class WHERE oid = 'user_identity'::regclass")):
                conn.execute(text("ANALYZE user_identity"))
                log.info("user_identity was never measured: analyzed it after %d new bindings", _created)
            else:
                _measured = True  # measured once: autovacuum keeps it so from now on
    except DBAPIError as error:  # not the table's owner, say: autovacuum will do it
        log.warning("could not measure user_identity: %s", error.orig)
        _measured = True
