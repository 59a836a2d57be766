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
