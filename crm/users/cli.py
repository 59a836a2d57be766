"""`flask --app app users ...`: users as JSON for scripts."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup
from sqlalchemy import select

from crm.auth.models import User
from crm.cli import fail, print_json
from crm.extensions import db
from crm.users import services as users

cli = AppGroup("users", help="List and show users.")


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def users_list(as_json: bool) -> None:
    """List users."""
    rows = [users.user_json(u) for u in db.session.scalars(select(User).order_by(User.username_key))]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        click.echo(f"{row['username']}\t{'active' if row['active'] else 'inactive'}\t{row['user_type']}")


@cli.command("show")
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
