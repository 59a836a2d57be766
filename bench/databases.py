"""The benchmarks' PostgreSQL database: never the test suite's, created when missing."""
from __future__ import annotations

import os

from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench"


def postgres_url(url: str | None = None) -> tuple[str | None, str | None]:
    """(url, None) when the database answers (created if missing), else (None, why not)."""
    url = url or os.environ.get("CRM_BENCH_DATABASE_URL") or DEFAULT_URL
    try:
        ensure_database(url)
    except Exception as error:  # no server, no rights: the PostgreSQL parts say they were skipped and why
        return None, f"{make_url(url).render_as_string(hide_password=True)}: {type(error).__name__}: {error}"
    return url, None


def ensure_database(url: str) -> None:
    """CREATE DATABASE when it does not exist yet (connected to the server's `postgres` database)."""
    import psycopg

    parsed = make_url(url)
    server = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{parsed.database}"')
