"""Flask extensions, created here and bound to the app in create_app (no circular imports)."""
import sqlite3
import time

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base shared by every area's models."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = Htmx()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite: enforce foreign keys, let readers run beside a writer (WAL), wait for locks."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] not in ("wal", "memory"):
            cursor.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL syncs at checkpoints instead of every commit: still consistent after a crash.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def ping_idle_connections(engine: Engine, after_seconds: float) -> None:
    """Before a pooled server connection is handed out, make sure it is alive, unless it came back to the pool less
    than `after_seconds` ago (HikariCP's "alive bypass window", 500 ms there too): a connection in steady use is not
    pinged before every request, which was one more round trip in each sign-in. A dead one is replaced before
    anyone uses it (the pool tries again on a new connection); one that dies within the window is met by the sign-in's
    own retry on a fresh connection, and by a clean 503 elsewhere. (SQLAlchemy's pool_pre_ping pings every time.)"""
    if engine.dialect.name == "sqlite":
        return  # no server to lose

    @event.listens_for(engine, "checkin")
    def _back_in_pool(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _alive_if_idle(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")  # none on a connection just made (its info starts empty)
        if idle_since is None or time.monotonic() - idle_since < after_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(f"pooled connection found dead: {error}") from error


# psycopg turns a query's %(name)s placeholders into PostgreSQL's $n once per query text and keeps the result, but
# only for texts up to 4,096 bytes with up to 50 parameters; a longer one is parsed again at every execution. A first
# login on PostgreSQL is one statement of 7 KB with 76 parameters (sso/first_login.py): parsed again, it cost 1.1 ms
# of a sign-in's CPU. Our statements are built once per process, so there are few of them to keep. (psycopg is pinned
# in pyproject.toml; tests/sso/test_first_login_records.py fails if these names go away.)
PSYCOPG_CACHED_QUERY_BYTES = 16384
PSYCOPG_CACHED_QUERY_PARAMETERS = 200


def tune_psycopg(engine: Engine) -> None:
    """On psycopg, the two changes below (nothing on another driver)."""
    if engine.dialect.driver == "psycopg":
        cache_long_queries()
        lean_descriptions(engine)


def cache_long_queries() -> None:
    """Let psycopg keep the conversion of our longest statements too."""
    from psycopg import _queries

    _queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, PSYCOPG_CACHED_QUERY_BYTES)
    _queries.MAX_CACHED_STATEMENT_PARAMS = max(_queries.MAX_CACHED_STATEMENT_PARAMS, PSYCOPG_CACHED_QUERY_PARAMETERS)


def lean_descriptions(engine: Engine) -> None:
    """psycopg describes a result's columns with a Column object each, built anew every time `description` is read,
    and SQLAlchemy reads it for every result, for the name and type of each column only. A sign-in's lookup returns
    27 columns: building them was 8 % of a sign-in's time in process. Our cursors describe a result with plain
    tuples of the same seven fields instead, the name and type read from the result, the rest None (DB-API allows
    None for display_size, internal_size, precision, scale and null_ok)."""
    import psycopg
    from psycopg import pq

    described = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.SINGLE_TUPLE, pq.ExecStatus.TUPLES_CHUNK)

    class LeanCursor(psycopg.Cursor):
        @property
        def description(self):
            result = self.pgresult
            if not result or not (result.nfields or result.status in described):
                return None
            encoding = self._encoding
            return [((result.fname(i) or f"column_{i + 1}".encode()).decode(encoding), result.ftype(i),
                     None, None, None, None, None) for i in range(result.nfields)]

    @event.listens_for(engine, "connect")
    def _lean_cursors(dbapi_connection, _record) -> None:
        dbapi_connection.cursor_factory = LeanCursor
