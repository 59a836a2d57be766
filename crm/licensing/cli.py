"""`flask --app app licenses ...`: license packages from the command line."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from crm.cli import fail, print_json
from crm.extensions import db
from crm.licensing import services as licensing

cli = AppGroup("licenses", help="Manage license packages.")


@cli.command("add")
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


@cli.command("list")
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
