"""Fixtures: app (on SQLite and on PostgreSQL), client, runner, login helpers.

PostgreSQL is the database CRM_TEST_DATABASE_URL names or, when it is unset, a throwaway cluster this run
starts (tests/postgres_server.py) and removes at its end.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import re
import signal

import psycopg
import psycopg.sql
import pytest
from flask import has_app_context
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from crm import create_app
from crm.demo.lookups import load_lookups
from crm.extensions import db
from tests import factories
from tests.postgres_server import PostgresUnavailable, ThrowawayCluster

URL_VARIABLE = "CRM_TEST_DATABASE_URL"
BACKENDS = ["sqlite", "postgresql"]
_cluster = pytest.StashKey[ThrowawayCluster]()


def pytest_configure(config):
    """Without CRM_TEST_DATABASE_URL, start a throwaway PostgreSQL cluster and set the variable to it.

    This runs before collection because test modules may read the URL when they are imported; child
    processes (servers under test, pytest-xdist workers) inherit it and so use the same cluster.
    """
    if os.environ.get(URL_VARIABLE) or config.option.help:
        return
    cluster = config.stash[_cluster] = ThrowawayCluster()
    config.add_cleanup(cluster.stop)  # runs after failures and Ctrl-C too
    config.add_cleanup(lambda: os.environ.pop(URL_VARIABLE, None))
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # A terminated run (a CI timeout, `kill`) then unwinds like Ctrl-C and still removes the cluster.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        os.environ[URL_VARIABLE] = cluster.start()
    except PostgresUnavailable as error:
        raise pytest.UsageError(str(error)) from None


def pytest_report_header(config):
    """Say which PostgreSQL the run uses."""
    cluster = config.stash.get(_cluster, None)
    if cluster is not None and cluster.folder is not None:
        return f"postgresql: throwaway cluster {cluster.url} in {cluster.folder}"
    url = make_url(os.environ[URL_VARIABLE]).render_as_string(hide_password=True)
    return f"postgresql: {url} (from {URL_VARIABLE})"


def _left_out(item) -> bool:
    """Whether the item is the other backend's variant of a postgres_only or sqlite_only test."""
    backend = getattr(item, "callspec", None) and item.callspec.params.get("app")
    return bool(backend == "sqlite" and item.get_closest_marker("postgres_only")
                or backend == "postgresql" and item.get_closest_marker("sqlite_only"))


def pytest_collection_modifyitems(config, items):
    """postgres_only tests run only on PostgreSQL, sqlite_only tests only on SQLite: the variant for the
    other backend is not collected at all (a skip would read as something missing on this machine)."""
    items[:] = [item for item in items if not _left_out(item)]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The SQLAlchemy URL of the PostgreSQL database the tests use: CRM_TEST_DATABASE_URL's, or under pytest-xdist
    one database per worker beside it (`test_gw0`, created when missing), since each worker truncates its tables
    before every test."""
    return worker_database(os.environ[URL_VARIABLE])


def worker_database(url: str) -> str:
    """`url` itself, or in a pytest-xdist worker the same server's database named after the worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base = make_url(url)
    name = f"{base.database}_{worker}"
    libpq = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _postgres_schema(postgres_url):
    """Build the PostgreSQL schema once per run (tests then truncate, which is much faster)."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": postgres_url})
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        db.create_all()
    return postgres_url


@pytest.fixture(params=BACKENDS)
def app(request, tmp_path, _postgres_schema):
    """A fresh app and database per test, with the standard lookups loaded."""
    backend = request.param
    url = _postgres_schema if backend == "postgresql" else f"sqlite:///{tmp_path / 'test.sqlite3'}"
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": url,
        # Concurrency tests run dozens of threads at once; each needs its own connection.
        **({"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 10, "max_overflow": 60}} if backend == "postgresql" else {}),
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "BASE_URL": "http://localhost",
    })
    app.config["BACKEND"] = backend
    with app.app_context():
        if backend == "postgresql":
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            db.session.commit()
        else:
            db.create_all()
        load_lookups()
        yield app
        db.session.remove()
        if backend == "sqlite":
            db.engine.dispose()


class IsolatedClient(FlaskClient):
    """A test client whose requests run like real ones: each in its own app context.

    The `app` fixture keeps an app context open for the test's own queries; without this, Flask would
    reuse it for requests and `g` (flask-login's user, flask-wtf's token) would leak between them. The
    test's session is rolled back around each request, so it re-reads what the request committed.
    """

    def open(self, *args, **kwargs):
        if not has_app_context():  # a redirect being followed: already isolated
            return super().open(*args, **kwargs)
        db.session.rollback()
        try:
            return contextvars.Context().run(super().open, *args, **kwargs)
        finally:
            db.session.rollback()


@pytest.fixture
def client(app):
    """A test client for the app."""
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner for the app's commands."""
    return app.test_cli_runner()


@pytest.fixture
def admin(app):
    """An administrator with a local password."""
    return factories.admin_user()


@pytest.fixture
def admin_client(client, admin):
    """A client signed in as the administrator."""
    login(client, admin.username, factories.PASSWORD)
    return client


def csrf_token(client, path: str = "/login") -> str:
    """Fetch a page and read the CSRF token from it."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client, username: str, password: str):
    """Sign in through the real login form (CSRF included)."""
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def signed_in_user_id(token: str) -> int | None:
    """The user whose session row the cookie's token names, if the session is live."""
    from crm.auth.sessions import user_for

    user = user_for(token)
    return user.id if user else None


@contextlib.contextmanager
def statements_sent(engine):
    """Collect the SQL of every statement the engine sends while the block runs (to count round trips, or to see
    what a statement carries)."""
    from sqlalchemy import event

    sent: list[str] = []

    def seen(_conn, _cursor, statement, *_rest):
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def cli_ok(runner, *args) -> str:
    """Run a console command that must succeed; its output."""
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result.output


def cli_fails(runner, *args) -> str:
    """Run a console command that must be refused (exit 1, only "Error: ..." on stderr); the message."""
    result = runner.invoke(args=list(args))
    assert result.exit_code == 1, result.output
    assert result.stdout == "" and result.stderr.startswith("Error: ")
    return result.stderr
