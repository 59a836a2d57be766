"""Command line: `flask --app app crm|users|licenses ...`. Errors go to stderr with exit status 1."""
from __future__ import annotations

import json
import secrets
import sys

import click
from flask import Flask
from flask.cli import AppGroup
from flask_migrate import upgrade
from sqlalchemy import select

from crm.audit import services as audit
from crm.auth.models import User
from crm.contacts.models import Contact
from crm.demo.lookups import ADMIN_ROLE, load_lookups
from crm.demo.seed import seed_demo
from crm.extensions import db
from crm.licensing import services as licensing
from crm.roles.services import add_member, find_role
from crm.users import services as users

CLI_ACTOR = (None, "cli")

crm_cli = AppGroup("crm", help="Set up the database and demo data.")
users_cli = AppGroup("users", help="List and show users.")
licenses_cli = AppGroup("licenses", help="Manage license packages.")
audit_cli = AppGroup("audit", help="Read the audit trail.")


def fail(message: str) -> None:
    """Print the problem on stderr and exit with status 1."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def print_json(value) -> None:
    """Print JSON on stdout."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


@crm_cli.command("init")
def init_command() -> None:
    """Apply the migrations and load the lookups (safe to run again)."""
    upgrade()
    added = load_lookups()
    click.echo(f"Database is up to date; {added} lookup values added.")


@crm_cli.command("seed-demo")
@click.option("--contacts", "contact_count", default=500, show_default=True, type=click.IntRange(0, 2_000_000),
              help="How many generated contacts to add.")
def seed_demo_command(contact_count: int) -> None:
    """Load the demo data once; running it again changes nothing."""
    added = seed_demo(contact_count)
    if not added:
        click.echo("Demo data is already loaded; nothing changed.")
    else:
        click.echo("Demo data loaded: " + ", ".join(f"{n} {what if n != 1 else what.removesuffix('s')}"
                                                    for what, n in added.items()) + ".")


@crm_cli.command("create-admin")
@click.argument("username")
@click.option("--if-missing", is_flag=True, help="Do nothing when the user exists (for `make run`).")
@click.option("--password-env", default="CRM_ADMIN_PASSWORD", show_default=True,
              help="Environment variable holding the password; without it a password is generated and printed.")
def create_admin_command(username: str, if_missing: bool, password_env: str) -> None:
    """Create a local administrator (break-glass sign-in with a password)."""
    import os

    if users.find_user(username) is not None:
        if if_missing:
            return
        fail(f'a user named "{username}" already exists.')
    role = find_role(ADMIN_ROLE)
    if role is None:
        fail("the Administrators role is missing: run `flask --app app crm init` first.")
    password = os.environ.get(password_env) or secrets.token_urlsafe(12)
    contact = Contact(full_name="CRM Administrator", given_name="CRM", surname="Administrator")
    try:
        user = users.create_user(username, password=password, contact=contact)
    except users.UserError as error:
        fail(str(error))
    add_member(user, role)
    audit.record("user.create", f"Created administrator {user.username}", target=user, actor=CLI_ACTOR,
                 changes={"username": {"before": None, "after": user.username}})
    db.session.commit()
    if os.environ.get(password_env):
        click.echo(f"Administrator {username} created with the password from {password_env}.")
    else:
        click.echo(f"Administrator {username} created. Password (shown once): {password}")


@licenses_cli.command("add")
@click.argument("name")
@click.option("--seats", type=click.IntRange(0), default=None, help="Seat limit; omit for unlimited.")
def licenses_add(name: str, seats: int | None) -> None:
    """Add a license package."""
    if licensing.find_package(name) is not None:
        fail(f'a license package named "{name}" already exists.')
    try:
        package = licensing.save_package(None, name, seats)
    except licensing.LicenseError as error:
        fail(str(error))
    db.session.commit()
    click.echo(f"License package {package.name} added ({'unlimited' if seats is None else f'{seats} seats'}).")


@licenses_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def licenses_list(as_json: bool) -> None:
    """List license packages with their seats."""
    rows = [{"name": p.name, "seat_limit": p.seat_limit, "seats_used": p.seats_used} for p in licensing.all_packages()]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        limit = "unlimited" if row["seat_limit"] is None else row["seat_limit"]
        click.echo(f"{row['name']}: {row['seats_used']} used of {limit}")


@users_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def users_list(as_json: bool) -> None:
    """List users."""
    rows = [users.user_json(u) for u in db.session.scalars(select(User).order_by(User.username_key))]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        click.echo(f"{row['username']}\t{'active' if row['active'] else 'inactive'}\t{row['user_type']}")


@users_cli.command("show")
@click.argument("username")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def users_show(username: str, as_json: bool) -> None:
    """Show one user with contact, licenses and roles."""
    user = users.find_user(username)
    if user is None:
        fail(f'no user named "{username}".')
    data = users.user_json(user)
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        click.echo(f"{key}: {json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value}")


@audit_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def audit_list(as_json: bool, limit: int) -> None:
    """Audit events, newest first."""
    from crm.audit.models import AuditEvent

    stmt = select(AuditEvent).order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit)
    rows = [{"reference": e.reference, "occurred_at": e.occurred_at.isoformat(), "category": e.category,
             "action": e.action, "actor": e.actor_name, "summary": e.summary, "idp": e.idp_slug,
             "name_id": e.name_id, "outcome": e.outcome, "reason": e.reason, "changes": e.changes,
             "details": e.details} for e in db.session.scalars(stmt)]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        click.echo(f"{row['occurred_at']}  {row['reference']}  {row['summary']}"
                   + (f"  [{row['outcome']}]" if row["outcome"] else ""))


def register_cli(app: Flask) -> None:
    """Add the command groups to `flask`."""
    from crm.designer.cli import sso_cli

    for group in (crm_cli, users_cli, licenses_cli, audit_cli, sso_cli):
        app.cli.add_command(group)
