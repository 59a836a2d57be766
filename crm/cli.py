"""What every area's command line shares: errors on stderr with exit status 1, JSON on stdout, the CLI actor.

Each area registers its own commands (crm/<area>/cli.py); create_app adds them to `flask --app app`.
"""
from __future__ import annotations

import json
import sys

import click

CLI_ACTOR = (None, "cli")


def fail(message: str) -> None:
    """Print the problem on stderr and exit with status 1."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def print_json(value) -> None:
    """Print JSON on stdout."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))
