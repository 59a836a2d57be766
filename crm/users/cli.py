"""`flask --app app users ...`: users as JSON for scripts."""
from __future__ import annotations

import json
import os

import click
from flask.cli import AppGroup
from sqlalchemy import select

from crm.auth.models import User
from crm.auth.sessions import idle_limit, session_json
from crm.cli import fail, print_json
from crm.extensions import db
from crm.identity_providers import realms
from crm.users import dormant
from crm.users import services as users

cli = AppGroup("users", help="List and show users; list and end their sessions.")


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


@cli.command("sessions")
@click.argument("username")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def users_sessions(username: str, as_json: bool) -> None:
    """List the user's live sessions: id, how they signed in, created, last seen, expires."""
    user = users.find_user(username) or fail(f'no user named "{username}".')
    idle = idle_limit()
    rows = [session_json(s, idle) for s in users.sessions_of(user)]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        click.echo(f"{row['id']}\t{row['how']}\tcreated {row['created']}\tlast seen {row['last_seen']}"
                   f"\texpires {row['expires']}\t{row['user_agent'] or ''}")


@cli.command("sign-out")
@click.argument("username")
def users_sign_out(username: str) -> None:
    """End every session of the user (each browser has to sign in again)."""
    user = users.find_user(username) or fail(f'no user named "{username}".')
    ended = users.sign_out_everywhere(user)
    db.session.commit()
    click.echo(f"Ended {ended} session{'s' if ended != 1 else ''} of {user.username}.")


@cli.command("set-password")
@click.argument("username")
@click.option("--password-env", default="CRM_NEW_PASSWORD", show_default=True,
              help="Read the new password from this environment variable instead of asking for it.")
def users_set_password(username: str, password_env: str) -> None:
    """Give USERNAME a new local password (at least 12 characters) and end all of their sessions."""
    user = users.find_user(username) or fail(f'no user named "{username}".')
    password = os.environ.get(password_env) or click.prompt("New password", hide_input=True,
                                                            confirmation_prompt=True)
    try:
        ended = users.change_password(user, password)
    except users.UserError as error:
        fail(str(error))
    db.session.commit()
    click.echo(f"New password set for {user.username}; {ended} session{'s' if ended != 1 else ''} ended.")


@cli.command("deactivate")
@click.argument("username")
def users_deactivate(username: str) -> None:
    """Deactivate a user: sessions ended, seats released (a SAML sign-in does not bring them back)."""
    _set_active(username, False)


@cli.command("activate")
@click.argument("username")
def users_activate(username: str) -> None:
    """Activate a user again (an SSO user gets seats by the provider's license policy where free)."""
    _set_active(username, True)


def _set_active(username: str, active: bool) -> None:
    user = users.find_user(username)
    if user is None:
        fail(f'no user named "{username}".')
    try:
        changed = users.set_active(user, active)
    except users.UserError as error:
        db.session.rollback()
        fail(str(error))
    db.session.commit()
    state = "active" if active else "inactive"
    click.echo(f"{user.username} is {state}{'' if changed else ' already'}.")


@cli.command("break-glass")
@click.argument("username")
@click.argument("state", type=click.Choice(["on", "off"]))
def users_break_glass(username: str, state: str) -> None:
    """Mark (on) or unmark (off) a break-glass administrator: they keep their password where single sign-on is
    required (at most 3; each of their sign-ins is audited and shown to every administrator for a week)."""
    user = users.find_user(username) or fail(f'no user named "{username}".')
    try:
        changed = realms.set_break_glass(user, state == "on")
    except realms.PolicyRefused as refused:
        db.session.rollback()
        fail(str(refused))
    db.session.commit()
    click.echo(f"{user.username} is {'' if state == 'on' else 'not '}a break-glass administrator"
               f"{'' if changed else ' already'}.")


@cli.command("deactivate-dormant")
@click.option("--days", type=click.IntRange(min=1), metavar="N",
              help="Reclaim from JIT users of every provider who have not signed in for N days (default: each "
                   "provider's own setting; providers without one are left alone).")
@click.option("--dry-run", is_flag=True, help="List who would be deactivated and which seats freed; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: [{username, provider, last_sign_in, seats}].")
def users_deactivate_dormant(days: int | None, dry_run: bool, as_json: bool) -> None:
    """Deactivate JIT users who have not signed in for N days and release their seats (for cron). Administrators,
    local users and users from SCIM are never deactivated; a dormant user's next SSO sign-in brings them back."""
    if dry_run:
        found = dormant.find_dormant(days)
    else:
        found = dormant.reclaim(days)
        db.session.commit()
    if as_json:
        print_json([user.as_json() for user in found])
        return
    for user in found:
        click.echo(f"{user.username}\t{user.provider}\tlast sign-in {_when(user.last_sign_in)}"
                   f"\t{', '.join(user.seats) or 'no seats'}")
    seats = sum(len(user.seats) for user in found)
    verb = "Would deactivate" if dry_run else "Deactivated"
    click.echo(f"{verb} {len(found)} dormant user{'s' if len(found) != 1 else ''}; "
               f"{seats} seat{'s' if seats != 1 else ''} {'would be ' if dry_run else ''}released.")
    if days is None and not dormant.reclaim_is_on():
        click.echo("note: no identity provider reclaims seats; set one with `sso set SLUG --dormant-days N`, "
                   "or pass --days N.", err=True)


def _when(moment) -> str:
    return moment.isoformat(timespec="minutes") if moment else "never"
