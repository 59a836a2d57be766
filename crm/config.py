"""Configuration: defaults here, then instance/config.py, then CRM_* environment variables."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import make_url


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message tells the operator what to set."""


DEFAULTS = {
    "ENV": "development",
    "BASE_URL": "http://127.0.0.1:5000",
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_TIME_LIMIT": None,
    "PAGE_SIZE": 25,
    "SESSION_IDLE_MINUTES": 8 * 60,  # a session unused this long ends (CRM_SESSION_IDLE_MINUTES)
    "SESSION_MAX_HOURS": 7 * 24,  # and every session ends this long after sign-in (CRM_SESSION_MAX_HOURS)
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    # PostgreSQL: a sign-in's commit waits for the disk only when true (crm/sso/records.py says what that trades)
    "SIGN_IN_DURABLE_COMMIT": False,
    # PostgreSQL: a pooled connection idle at least this long is pinged before use (crm/extensions.py)
    "DATABASE_PING_AFTER_IDLE_SECONDS": 0.5,
    # PostgreSQL: connections each process keeps open. Set it to the process's threads at least (gunicorn --threads):
    # a thread finding none idle opens one more, closed again after its request, a new server process each time
    "DATABASE_POOL_SIZE": 10,
    "HSTS_MAX_AGE": 365 * 24 * 3600,  # production over https: browsers keep to https for a year
    # IdP metadata fetched from a provider's metadata URL (crm/identity_providers/metadata_source.py)
    "METADATA_MAX_BYTES": 10 * 1024 * 1024,  # a larger document is refused (CRM_METADATA_MAX_BYTES)
    "METADATA_TIMEOUT_SECONDS": 10,  # the whole fetch, redirects included
    "METADATA_REFRESH_HOURS": 24,  # a provider whose last refresh is older is refreshed on its own; 0: never
    "METADATA_CHECK_SECONDS": 300,  # how often each process looks for such providers (after a page, never the ACS)
}
MIN_SECRET_KEY_BYTES = 32


def load_config(app: Flask, test_config: dict | None) -> None:
    """Fill app.config from defaults, instance/config.py, CRM_* variables and, in tests, test_config."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("CRM")
    if test_config:
        app.config.from_mapping(test_config)
    _resolve_database(app)
    _resolve_secret_key(app)
    base_url = str(app.config["BASE_URL"]).rstrip("/")
    app.config["BASE_URL"] = base_url
    secure = base_url.startswith("https://")
    if is_production(app) and not secure:
        raise ConfigError(f"CRM_ENV=production needs an https public URL: set CRM_BASE_URL to https://... (it is "
                          f"{base_url}). Sessions, SAML responses and passwords must not travel in the clear.")
    app.config["SESSION_COOKIE_SECURE"] = secure
    app.config["REMEMBER_COOKIE_SECURE"] = secure
    app.config["HSTS"] = f"max-age={int(app.config['HSTS_MAX_AGE'])}" if secure and is_production(app) else None


def is_production(app: Flask) -> bool:
    """True when the operator started the app with CRM_ENV=production."""
    return str(app.config.get("ENV", "")).lower() == "production"


def _resolve_database(app: Flask) -> None:
    url = app.config.get("DATABASE_URL") or app.config.get("SQLALCHEMY_DATABASE_URI")
    if not url:
        url = "sqlite:///" + str(Path(app.instance_path) / "crm.sqlite3")
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    if url.startswith("sqlite"):
        # SQLite waits for a writer instead of failing at once with "database is locked".
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": 30}})
        _create_sqlite_file(url)
    else:
        # (A server's pooled connections are pinged when they have been idle, extensions.ping_idle_connections, not
        # before every request as pool_pre_ping would.)
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        options.setdefault("pool_size", int(app.config["DATABASE_POOL_SIZE"]))


def _create_sqlite_file(url: str) -> None:
    """Create a missing SQLite database file readable by its owner only (SQLite gives its -wal and -shm files the
    same mode), before SQLite creates it with the umask's mode."""
    path = make_url(url).database
    if path and path != ":memory:" and not path.startswith("file:") and Path(path).parent.is_dir():
        write_private_file(Path(path), b"")  # an empty file is an empty database


def write_private_file(path: Path, data: bytes) -> bool:
    """Create `path` holding `data`, with mode 0600 from its first byte; False (and nothing changed) when it exists.

    The data goes into a new file of its own, opened with that mode, which is then linked in place: there is no moment
    when the file exists with a wider mode or half written, and of two workers starting at once only one writes it."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)
    return True


def _resolve_secret_key(app: Flask) -> None:
    if key := app.config.get("SECRET_KEY"):
        size = len(key.encode() if isinstance(key, str) else key)
        if is_production(app) and size < MIN_SECRET_KEY_BYTES:
            raise ConfigError(f"CRM_SECRET_KEY is {size} bytes long; CRM_ENV=production needs at least "
                              f"{MIN_SECRET_KEY_BYTES} (for example: python -c 'import secrets; "
                              "print(secrets.token_hex(32))').")
        return
    if is_production(app):
        raise ConfigError(
            "CRM_ENV=production needs a secret key: set CRM_SECRET_KEY to a long random value "
            "(for example: python -c 'import secrets; print(secrets.token_hex(32))')."
        )
    key_file = Path(app.instance_path) / "secret_key"
    key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private_file(key_file, secrets.token_hex(32).encode())
    app.config["SECRET_KEY"] = key_file.read_text().strip()
