"""The command line: crm, licenses, users."""
import json

from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.extensions import db
from crm.licensing.models import LicensePackage
from tests import factories


def test_seed_demo_loads_once_and_users_show_prints_the_contract(runner, app):
    result = runner.invoke(args=["crm", "seed-demo", "--contacts", "20"])
    assert result.exit_code == 0 and "Demo data loaded" in result.output
    again = runner.invoke(args=["crm", "seed-demo", "--contacts", "20"])
    assert "nothing changed" in again.output
    packages = json.loads(runner.invoke(args=["licenses", "list", "--json"]).output)
    assert {(p["name"], p["seat_limit"]) for p in packages} == {
        ("Sales Creatio", 25), ("Marketing Creatio", 10), ("Service Creatio", None)}
    shown = json.loads(runner.invoke(args=["users", "show", "MARIA.GARCIA@example.com", "--json"]).output)
    assert shown["username"] == "maria.garcia@example.com"
    assert shown["identity"] is None
    assert shown["contact"]["department"] == "Sales" and shown["contact"]["account"] == "Acme Corporation"
    assert set(shown["contact"]) == {"given_name", "surname", "full_name", "email", "phone", "mobile_phone",
                                     "job_title", "department", "account", "type", "city", "notes"}
    assert shown["licenses"] == ["Sales Creatio"]
    assert shown["roles"] == [{"name": "All employees", "source": "manual"}, {"name": "Sales", "source": "manual"}]


def test_users_show_unknown_user_fails_on_stderr(runner, app):
    result = runner.invoke(args=["users", "show", "nobody", "--json"])
    assert result.exit_code == 1
    assert 'no user named "nobody"' in result.stderr and result.stdout == ""


def test_create_admin_uses_the_password_from_the_environment(runner, app, monkeypatch):
    monkeypatch.setenv("CRM_ADMIN_PASSWORD", "s3cret-pass-phrase")
    result = runner.invoke(args=["crm", "create-admin", "root"])
    assert result.exit_code == 0 and "s3cret-pass-phrase" not in result.output
    user = db.session.scalar(db.select(User).where(User.username == "root"))
    assert user.check_password("s3cret-pass-phrase") and user.is_admin
    # The audit trail tells it in order: the administrator is created, then made a member of Administrators.
    events = db.session.scalars(db.select(AuditEvent).where(AuditEvent.target_id == user.id)
                                .order_by(AuditEvent.id)).all()
    assert [e.action for e in events][:2] == ["user.create", "role.member_add"], [(e.action, e.summary) for e in events]
    assert runner.invoke(args=["crm", "create-admin", "ROOT"]).exit_code == 1
    assert runner.invoke(args=["crm", "create-admin", "root", "--if-missing"]).exit_code == 0


def test_create_admin_refuses_a_password_shorter_than_12_characters(runner, app, monkeypatch):
    monkeypatch.setenv("CRM_ADMIN_PASSWORD", "x" * 11)
    result = runner.invoke(args=["crm", "create-admin", "root"])
    assert result.exit_code == 1
    assert "CRM_ADMIN_PASSWORD" in result.stderr and "at least 12 characters" in result.stderr
    assert db.session.scalar(db.select(User).where(User.username == "root")) is None
    monkeypatch.setenv("CRM_ADMIN_PASSWORD", "x" * 12)
    assert runner.invoke(args=["crm", "create-admin", "root"]).exit_code == 0


def test_create_admin_generates_and_prints_a_password_once(runner, app, monkeypatch):
    monkeypatch.delenv("CRM_ADMIN_PASSWORD", raising=False)
    result = runner.invoke(args=["crm", "create-admin", "breakglass"])
    password = result.output.rsplit(": ", 1)[1].strip()
    assert db.session.scalar(db.select(User).where(User.username == "breakglass")).check_password(password)


def test_licenses_add_and_duplicate(runner, app):
    assert runner.invoke(args=["licenses", "add", "Analytics", "--seats", "3"]).exit_code == 0
    assert db.session.scalar(db.select(LicensePackage.seat_limit).where(LicensePackage.name == "Analytics")) == 3
    duplicate = runner.invoke(args=["licenses", "add", "analytics"])
    assert duplicate.exit_code == 1 and "already exists" in duplicate.stderr


def test_users_list_json(runner, app):
    factories.user("zoe@example.com")
    rows = json.loads(runner.invoke(args=["users", "list", "--json"]).output)
    assert [r["username"] for r in rows] == ["zoe@example.com"]


def test_seed_demo_is_refused_in_production(tmp_path):
    from crm import create_app

    production = create_app({"ENV": "production", "SECRET_KEY": "k" * 32, "BASE_URL": "https://crm.example.com",
                             "INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/p.db"})
    result = production.test_cli_runner().invoke(args=["crm", "seed-demo", "--contacts", "5"])
    assert result.exit_code == 1 and "refused with CRM_ENV=production" in result.stderr


def test_create_admin_takes_a_free_seat_so_the_administrator_can_open_contacts_too(runner, app, monkeypatch):
    from crm.auth.models import User

    factories.package("Full", 0)
    factories.package("Sales Creatio", 5)
    monkeypatch.setenv("CRM_ADMIN_PASSWORD", "a long enough password")
    result = runner.invoke(args=["crm", "create-admin", "root"])
    assert result.exit_code == 0 and "License seat: Sales Creatio." in result.output, result.output
    root = db.session.scalar(db.select(User).where(User.username == "root"))
    assert [seat.package.name for seat in root.seats] == ["Sales Creatio"] and root.can("contacts.view")
    alone = runner.invoke(args=["crm", "create-admin", "solo"])
    assert alone.exit_code == 0
