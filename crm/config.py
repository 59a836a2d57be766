"""Configuration: defaults here, then instance/config.py, then CRM_* environment variables."""
from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask


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
}


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
    app.config["SESSION_COOKIE_SECURE"] = secure
    app.config["REMEMBER_COOKIE_SECURE"] = secure


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
    else:
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})


def _resolve_secret_key(app: Flask) -> None:
    if app.config.get("SECRET_KEY"):
        return
    if is_production(app):
        raise ConfigError(
            "CRM_ENV=production needs a secret key: set CRM_SECRET_KEY to a long random value "
            "(for example: python -c 'import secrets; print(secrets.token_hex(32))')."
        )
    key_file = Path(app.instance_path) / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    app.config["SECRET_KEY"] = key_file.read_text().strip()
