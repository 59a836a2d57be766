"""Fixtures: app (SQLite, or also PostgreSQL when CRM_TEST_DATABASE_URL is set), client, runner, login helpers."""
from __future__ import annotations

import contextvars
import os
import re

import pytest
from flask import has_app_context
from flask.testing import FlaskClient
from sqlalchemy import text

from crm import create_app
from crm.demo.lookups import load_lookups
from crm.extensions import db
from tests import factories

POSTGRES_URL = os.environ.get("CRM_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


def pytest_collection_modifyitems(config, items):
    """postgres_only tests run once, on PostgreSQL, and skip visibly when no URL is given."""
    kept = []
    for item in items:
        backend = getattr(item, "callspec", None) and item.callspec.params.get("app")
        if item.get_closest_marker("postgres_only"):
            if not POSTGRES_URL:
                item.add_marker(pytest.mark.skip(reason="set CRM_TEST_DATABASE_URL to a PostgreSQL database"))
            elif backend == "sqlite":
                continue
        kept.append(item)
    items[:] = kept


@pytest.fixture(scope="session")
def _postgres_schema():
    """Build the PostgreSQL schema once per run (tests then truncate, which is much faster)."""
    if not POSTGRES_URL:
        return None
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": POSTGRES_URL})
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        db.create_all()
    return POSTGRES_URL


@pytest.fixture(params=BACKENDS)
def app(request, tmp_path, _postgres_schema):
    """A fresh app and database per test, with the standard lookups loaded."""
    backend = request.param
    url = POSTGRES_URL if backend == "postgresql" else f"sqlite:///{tmp_path / 'test.sqlite3'}"
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
