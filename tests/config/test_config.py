"""Configuration: defaults, instance/config.py, CRM_* variables; production needs a long secret key and https, and
sends HSTS; the files in instance/ are the owner's only."""
import os
from pathlib import Path

import pytest

from crm import create_app
from crm.config import ConfigError


def test_production_without_secret_key_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_ENV", "production")
    monkeypatch.delenv("CRM_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="CRM_SECRET_KEY"):
        create_app({"INSTANCE_PATH": str(tmp_path)})


def test_development_generates_and_keeps_a_secret_key(tmp_path, monkeypatch):
    monkeypatch.delenv("CRM_SECRET_KEY", raising=False)
    monkeypatch.delenv("CRM_ENV", raising=False)
    first = create_app({"INSTANCE_PATH": str(tmp_path)}).config["SECRET_KEY"]
    second = create_app({"INSTANCE_PATH": str(tmp_path)}).config["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_environment_overrides_instance_config(tmp_path, monkeypatch):
    (tmp_path / "config.py").write_text("BASE_URL = 'https://from-file.example'\nPAGE_SIZE = 10\n")
    monkeypatch.setenv("CRM_BASE_URL", "https://crm.example.com/")
    monkeypatch.setenv("CRM_DATABASE_URL", "sqlite:///" + str(tmp_path / "x.db"))
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["BASE_URL"] == "https://crm.example.com"
    assert app.config["PAGE_SIZE"] == 10
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("x.db")
    assert app.config["SESSION_COOKIE_SECURE"] is True and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


PRODUCTION = {"ENV": "production", "SECRET_KEY": "k" * 32, "BASE_URL": "https://crm.example.com"}


def test_production_refuses_a_secret_key_shorter_than_32_bytes(tmp_path):
    with pytest.raises(ConfigError, match="CRM_SECRET_KEY is 31 bytes long.*at least 32"):
        create_app(PRODUCTION | {"SECRET_KEY": "k" * 31, "INSTANCE_PATH": str(tmp_path)})


def test_production_refuses_a_public_url_without_https(tmp_path):
    with pytest.raises(ConfigError, match="CRM_BASE_URL to https://"):
        create_app(PRODUCTION | {"BASE_URL": "http://crm.example.com", "INSTANCE_PATH": str(tmp_path)})


def test_production_over_https_sends_hsts_on_every_response(tmp_path, monkeypatch):
    monkeypatch.delenv("CRM_ENV", raising=False)
    app = create_app(PRODUCTION | {"INSTANCE_PATH": str(tmp_path)})
    client = app.test_client()
    for path in ("/login", "/no-such-page", "/static/css/app.css", "/contacts"):
        assert client.get(path).headers["Strict-Transport-Security"] == "max-age=31536000", path
    development = create_app({"INSTANCE_PATH": str(tmp_path), "BASE_URL": "http://127.0.0.1:5000"})
    assert "Strict-Transport-Security" not in development.test_client().get("/login").headers


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


def test_the_database_and_the_secret_key_in_instance_are_the_owners_only_from_the_start(tmp_path, monkeypatch):
    from crm.extensions import db

    monkeypatch.delenv("CRM_SECRET_KEY", raising=False)
    monkeypatch.delenv("CRM_DATABASE_URL", raising=False)
    instance = tmp_path / "instance"
    previous = os.umask(0o022)  # what most shells hand a server
    try:
        app = create_app({"INSTANCE_PATH": str(instance)})
        database = instance / "crm.sqlite3"
        # Before SQLite ever opened it: it exists already, empty and private (SQLite would make it 0644).
        assert database.stat().st_size == 0 and _mode(database) == 0o600
        assert _mode(instance / "secret_key") == 0o600 and _mode(instance) == 0o700
        with app.app_context():
            db.create_all()
            db.session.execute(db.text("CREATE TABLE t (x)"))
            db.session.execute(db.text("INSERT INTO t VALUES (1)"))
            db.session.commit()
            files = {p.name: _mode(p) for p in instance.iterdir() if p.name.startswith("crm.sqlite3")}
            db.engine.dispose()
    finally:
        os.umask(previous)
    assert files["crm.sqlite3-wal"] == 0o600 and set(files.values()) == {0o600}, files


def test_the_demo_idps_key_is_written_private_in_one_step(tmp_path, monkeypatch):
    """The key appears complete and 0600 at once: it is linked into place from a file opened with that mode."""
    from crm.dev_idp.keys import ensure_key_pair, key_files

    seen = []
    link = os.link

    def watched_link(source, target):
        seen.append((os.path.basename(target), _mode(Path(source)), Path(source).read_bytes()[:27]))
        link(source, target)

    monkeypatch.setattr(os, "link", watched_link)
    previous = os.umask(0)
    try:
        ensure_key_pair(str(tmp_path))
    finally:
        os.umask(previous)
    key_file, _cert_file = key_files(str(tmp_path))
    assert seen == [("key.pem", 0o600, b"-----BEGIN PRIVATE KEY-----")]
    assert _mode(key_file) == 0o600 and _mode(key_file.parent) == 0o700


def test_a_server_database_keeps_as_many_connections_as_the_server_has_threads(tmp_path, monkeypatch):
    """With fewer pooled connections than threads, every request beyond them opened a connection and closed it
    afterwards (a new PostgreSQL process each time): one sign-in in ten in the login storm. CRM_DATABASE_POOL_SIZE
    sets it; SQLite keeps its own pool."""
    from crm.extensions import db

    url = "postgresql+psycopg://nobody@127.0.0.1:9/never_connected"
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        assert db.engine.pool.size() == 10
    monkeypatch.setenv("CRM_DATABASE_POOL_SIZE", "16")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        assert db.engine.pool.size() == 16


@pytest.mark.postgres_only
def test_psycopg_cursors_describe_results_as_psycopg_does_only_leaner(app):
    """crm/extensions.lean_descriptions: the same name and type for each column as psycopg's own Column objects."""
    import psycopg

    from crm.extensions import db

    query = "SELECT 1 AS n, 'a'::text AS t, now() AS at, NULL::json AS j, ARRAY[1] AS a, true"
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            lean = raw.cursor()
            lean.execute(query)
            plain = psycopg.Cursor(raw.driver_connection)
            plain.execute(query)
            assert [(d[0], d[1]) for d in lean.description] == [(c.name, c.type_code) for c in plain.description]
            assert all(len(d) == 7 for d in lean.description)
            lean.execute("SET LOCAL work_mem = '4MB'")
            assert lean.description is None and plain.description is not None
        finally:
            raw.close()
