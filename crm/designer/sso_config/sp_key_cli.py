"""`flask --app app sso sp-key ...`: this service provider's own keys, and their rollover, from the command line."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from crm.cli import fail, print_json
from crm.extensions import db
from crm.sso import sp_keys

sp_key_cli = AppGroup("sp-key", help="The SP's own key pairs: list, rotate (publish the next key), retire the old.")


def _as_row(key) -> dict:
    return {"id": key.id, "created": key.created.isoformat(timespec="seconds"), "state": key.state,
            "fingerprint": key.fingerprint}


@sp_key_cli.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_command(as_json) -> None:
    """List the SP keys published in our metadata (made on first use), the active one first."""
    sp_keys.ensure_active_key()
    rows = sp_keys.listing()
    if as_json:
        print_json(rows)
        return
    for row in rows:
        click.echo(f"{row['id']}\t{row['state']}\t{row['created']}\t{row['fingerprint']}")


@sp_key_cli.command("rotate")
@click.option("--json", "as_json", is_flag=True)
def rotate_command(as_json) -> None:
    """Publish a next key beside the active one; requests stay signed with the active key until it is retired."""
    try:
        key = sp_keys.rotate()
    except sp_keys.SpKeyError as error:
        db.session.rollback()
        fail(str(error))
    db.session.commit()
    if as_json:
        print_json(_as_row(key))
        return
    click.echo(f"Published key {key.id} ({key.fingerprint}) as next. Give the identity providers our new metadata, "
               f"then `sso sp-key retire` the old key.")


@sp_key_cli.command("retire")
@click.argument("key_id", type=int)
def retire_command(key_id) -> None:
    """Remove a key: the old active one (the next key then signs), or a next key to call the rollover off."""
    try:
        key = sp_keys.retire(key_id)
    except sp_keys.SpKeyError as error:
        db.session.rollback()
        fail(str(error))
    db.session.commit()
    click.echo(f"Retired key {key_id}; key {key.id} is {key.state}." if key.id != key_id else
               f"Withdrew the next key {key_id}.")
