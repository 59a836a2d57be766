"""The CRM console: create_app wires configuration, extensions, blueprints and the CLI."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from crm.config import load_config
from crm.extensions import csrf, db, htmx, login_manager, migrate, ping_idle_connections, tune_psycopg

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    """Build the Flask application (the flaskr pattern: defaults, instance/config.py, CRM_*, tests)."""
    instance = (test_config or {}).get("INSTANCE_PATH") or str(ROOT / "instance")
    app = Flask(
        __name__,
        instance_path=instance,
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    Path(app.instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)  # the database, keys and secrets
    load_config(app, test_config)

    db.init_app(app)
    with app.app_context():
        ping_idle_connections(db.engine, float(app.config["DATABASE_PING_AFTER_IDLE_SECONDS"]))
        tune_psycopg(db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)

    _register_models()
    _register_blueprints(app)
    _register_cli(app)

    from crm.audit.sign_ins import audit_password_failures
    from crm.designer.sso_config.warnings import register_certificate_warnings
    from crm.dev_idp import register_dev_idp
    from crm.sso.refresh_schedule import register_refresh_schedule
    from crm.web import register_web

    register_dev_idp(app)
    register_web(app)
    audit_password_failures(app)
    register_refresh_schedule(app)
    register_certificate_warnings(app)
    return app


def _register_models() -> None:
    # Importing the model modules registers their tables on db.metadata (for Alembic and create_all).
    import crm.models  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    from crm.accounts.views import bp as accounts_bp
    from crm.audit.views import bp as audit_bp
    from crm.auth.views import bp as auth_bp
    from crm.contacts.views import bp as contacts_bp
    from crm.designer.views import bp as designer_bp
    from crm.licensing.views import bp as licensing_bp
    from crm.roles.views import bp as roles_bp
    from crm.sso.views import bp as sso_bp
    from crm.users.reclaim_views import bp as reclaim_bp
    from crm.users.views import bp as users_bp

    for bp in (auth_bp, contacts_bp, accounts_bp, users_bp, roles_bp, licensing_bp, reclaim_bp, audit_bp, designer_bp,
               sso_bp):
        app.register_blueprint(bp)

    from crm.scim.views import register_scim

    register_scim(app)


def _register_cli(app: Flask) -> None:
    """Each area's command group (the module that owns a thing registers its commands)."""
    from crm.audit.cli import cli as audit_cli
    from crm.demo.cli import cli as crm_cli
    from crm.designer.sso_config.cli import sso_cli
    from crm.licensing.cli import cli as licenses_cli
    from crm.roles.cli import cli as roles_cli
    from crm.users.cli import cli as users_cli

    for group in (crm_cli, users_cli, roles_cli, licenses_cli, audit_cli, sso_cli):
        app.cli.add_command(group)
