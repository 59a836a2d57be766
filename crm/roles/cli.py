"""`flask --app app roles ...`: roles and their permissions from the command line."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from crm.auth.permissions import ALL
from crm.cli import fail, print_json
from crm.extensions import db
from crm.roles import services as roles

cli = AppGroup("roles", help="List roles; show, grant and revoke their permissions.")


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def roles_list(as_json: bool) -> None:
    """List roles with their permissions."""
    rows = [roles.role_json(r) for r in roles.all_roles()]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']}\t{', '.join(row['permissions']) or '(no permissions)'}")


@cli.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def roles_show(name: str, as_json: bool) -> None:
    """Show one role: description, permissions, number of members."""
    role = roles.find_role(name) or fail(f'no role named "{name}".')
    data = roles.role_json(role)
    if as_json:
        print_json(data)
        return
    click.echo(f"{data['name']}: {', '.join(data['permissions']) or '(no permissions)'} ({data['members']} members)")


def _change(name: str, permission: str, change, done: str) -> None:
    role = roles.find_role(name) or fail(f'no role named "{name}".')
    try:
        changed = change(role, permission)
    except roles.RoleError as error:
        fail(str(error))
    db.session.commit()
    click.echo(f"{role.name} {done} {permission}." if changed else f"Nothing to change: {role.name} "
               f"{'already has' if change is roles.grant else 'does not have'} {permission}.")


@cli.command("grant")
@click.argument("name")
@click.argument("permission", type=click.Choice(ALL))
def roles_grant(name: str, permission: str) -> None:
    """Let the role's members do PERMISSION."""
    _change(name, permission, roles.grant, "now grants")


@cli.command("revoke")
@click.argument("name")
@click.argument("permission", type=click.Choice(ALL))
def roles_revoke(name: str, permission: str) -> None:
    """Stop the role's members doing PERMISSION (what another of their roles grants stays)."""
    _change(name, permission, roles.revoke, "no longer grants")
