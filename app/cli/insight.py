"""`insight rebuild`: recompute the dashboard's daily sales roll-ups for a range of days (docs/insight.md; an
addition to the contract in docs/ops-cli.md). Bad input prints a message on stderr, changes nothing, exits 1."""

import click
from flask import Flask
from flask.cli import with_appcontext

from app.cli import emit, fail
from app.core.errors import DomainError
from app.insight import rollups
from app.ledger.periods import parse_day


@click.group("insight", help="Dashboard roll-ups.")
def cli():
    pass


@cli.command("rebuild", help="Recompute the daily sales roll-ups of local days FROM..TO (both included; today "
                             "and later days are read live and skipped). Prints JSON {\"from\", \"to\", \"days\", "
                             "\"rows\", \"skipped_live_days\"}.")
@click.option("--from", "first", required=True, help="First local day, e.g. 2026-01-01.")
@click.option("--to", "last", required=True, help="Last local day, e.g. 2026-01-31.")
@with_appcontext
def rebuild(first: str, last: str):
    try:
        result = rollups.rebuild(parse_day(first, "from"), parse_day(last, "to"))
    except DomainError as e:
        fail(str(e.message))
    emit(result)


def register(app: Flask) -> None:
    app.cli.add_command(cli)
