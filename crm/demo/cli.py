"""`flask --app app crm ...`: set up the database, the demo data and the first administrator."""
from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import AppGroup
from flask_migrate import upgrade

from crm.audit import services as audit
from crm.auth.passwords import password_problem
from crm.cli import CLI_ACTOR, fail
from crm.config import is_production
from crm.contacts.models import Contact
from crm.demo.lookups import ADMIN_ROLE, load_lookups
from crm.demo.seed import seed_demo
from crm.extensions import db
from crm.roles.services import add_member, find_role
from crm.users import services as users

cli = AppGroup("crm", help="Set up the database and demo data.")


@cli.command("init")
def init_command() -> None:
    """Apply the migrations and load the lookups (safe to run again)."""
    upgrade()
    added = load_lookups()
    click.echo(f"Database is up to date; {added} lookup values added.")


@cli.command("seed-demo")
@click.option("--contacts", "contact_count", default=500, show_default=True, type=click.IntRange(0, 2_000_000),
              help="How many generated contacts to add.")
def seed_demo_command(contact_count: int) -> None:
    """Load the demo data once; running it again changes nothing. Progress goes to stderr."""
    if is_production(current_app):
        fail("seed-demo is refused with CRM_ENV=production: it adds demo users, accounts and license packages to "
             "the real data.")
    with _progress(contact_count, "Loading contacts") as advance:
        added = seed_demo(contact_count, progress=advance)
    if not added:
        click.echo("Demo data is already loaded; nothing changed.")
    else:
        click.echo("Demo data loaded: " + ", ".join(f"{n} {what if n != 1 else what.removesuffix('s')}"
                                                    for what, n in added.items()) + ".")


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress callback: click's bar on a terminal; elsewhere (a log, CI) a line at every tenth.

    Nothing is drawn until the first rows arrive, so a second run, which loads none, prints only its summary.
    After the last row a line says what the remaining seconds go to (indexes, commit, statistics).
    """
    stream = sys.stderr  # looked up now: the test runner swaps it
    bar, done, tenths = None, 0, 0

    def advance(rows: int) -> None:
        nonlocal bar, done, tenths
        done += rows
        if stream.isatty():
            if bar is None:
                bar = click.progressbar(length=total, label=label, file=stream, show_pos=True).__enter__()
            bar.update(rows)
            if done >= total:
                bar.__exit__(None, None, None)
        elif total and done * 10 // total > tenths:
            tenths = done * 10 // total
            click.echo(f"{label}: {done:,} of {total:,} ({tenths * 10} %)", err=True)
        if done >= total:
            click.echo("Building indexes and committing...", err=True)

    yield advance


@cli.command("create-admin")
@click.argument("username")
@click.option("--if-missing", is_flag=True, help="Do nothing when the user exists (for `make run`).")
@click.option("--password-env", default="CRM_ADMIN_PASSWORD", show_default=True,
              help="Environment variable holding the password; without it a password is generated and printed.")
def create_admin_command(username: str, if_missing: bool, password_env: str) -> None:
    """Create a local administrator (break-glass sign-in with a password)."""
    if users.find_user(username) is not None:
        if if_missing:
            return
        fail(f'a user named "{username}" already exists.')
    role = find_role(ADMIN_ROLE)
    if role is None:
        fail("the Administrators role is missing: run `flask --app app crm init` first.")
    password = os.environ.get(password_env) or secrets.token_urlsafe(12)
    if problem := password_problem(password):
        fail(f"the password in {password_env} is refused. {problem}")
    contact = Contact(full_name="CRM Administrator", given_name="CRM", surname="Administrator")
    try:
        user = users.create_user(username, password=password, contact=contact)
    except users.UserError as error:
        fail(str(error))
    audit.record("user.create", f"Created administrator {user.username}", target=user, actor=CLI_ACTOR,
                 changes={"username": {"before": None, "after": user.username}})
    add_member(user, role)  # (audited after the creation it follows)
    seat = _first_free_seat(user)
    db.session.commit()
    click.echo(f"License seat: {seat}." if seat else "No license package has a free seat: the administrator reaches "
               "the administration pages; grant a seat (Users → the user) to work with contacts and accounts.")
    if os.environ.get(password_env):
        click.echo(f"Administrator {username} created with the password from {password_env}.")
    else:  # (the password last: scripts read it from the end of the output)
        click.echo(f"Administrator {username} created. Password (shown once): {password}")


def _first_free_seat(user) -> str | None:
    """A seat for the new administrator in the first package (by name) with one free, so that they can work with
    contacts and accounts too (administration needs none); the package's name, or None."""
    from crm.licensing.services import NoSeatLeft, all_packages, grant

    for package in all_packages():
        try:
            if grant(user, package, CLI_ACTOR[1]):
                return package.name
        except NoSeatLeft:
            continue
    return None
