"""`flask db upgrade` builds exactly the schema the models describe, on SQLite and PostgreSQL."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from crm import create_app
from crm.extensions import db


def _fresh_postgres_schema(url: str) -> str:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS migration_check CASCADE"))
        conn.execute(text("CREATE SCHEMA migration_check"))
    engine.dispose()
    return url + ("&" if "?" in url else "?") + "options=-csearch_path%3Dmigration_check"


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_upgrade_matches_the_models_and_downgrade_removes_everything(engine, tmp_path, postgres_url):
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}" if engine == "sqlite" else _fresh_postgres_schema(postgres_url)
    app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(tmp_path)})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()


def test_going_down_and_up_again_keeps_every_row(tmp_path):
    """On SQLite a batch migration copies a table and drops the old one, and ON DELETE CASCADE then empties its
    children: the migrations since 0008 change referenced tables in place, so no row is lost either way."""
    from tests import factories

    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(tmp_path)})
    kept = ("identity_provider", "idp_certificate", "attribute_mapping", "role_mapping", "user_identity",
            "user_account", "contact", "role", "role_membership", "license_package", "license_seat", "audit_event")
    with app.app_context():
        upgrade()
        from crm.demo.lookups import load_lookups
        from crm.identity_providers import mappings

        load_lookups()
        provider = factories.provider("entra")
        mappings.apply_preset(provider, "entra")
        mappings.add_role_mapping(provider, "groups", "sales", "Administrators")
        user = factories.user("ann@example.com", roles=("Administrators",), seat=True)
        from crm.users.services import link_identity

        link_identity(user, provider, "ann@example.com")
        from crm.identity_providers.scim_tokens import new_token

        new_token(provider)  # (its table goes with 0013; the columns 0013 adds to referenced tables must not cascade)
        db.session.commit()

        def counts():
            return {t: db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in kept}

        before = counts()
        assert all(before.values()), before
        db.session.remove()
        downgrade(revision="0008")
        upgrade()
        assert counts() == before
        db.engine.dispose()


def test_postgresql_keeps_attempts_responses_uncompressed_whichever_way_the_schema_is_made(tmp_path, postgres_url):
    """crm/sso/models.py: upgrade (migration 0026) and create_all (the DDL after the table) both store
    sign_in_attempt.saml_response without compression (attstorage 'e', EXTERNAL)."""
    storage = text("SELECT attstorage FROM pg_attribute WHERE attrelid = 'sign_in_attempt'::regclass "
                   "AND attname = 'saml_response'")
    for make in (upgrade, db.create_all):
        url = _fresh_postgres_schema(postgres_url)
        app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(tmp_path)})
        with app.app_context():
            make()
            with db.engine.connect() as conn:
                assert conn.scalar(storage) == "e", make
            db.engine.dispose()
