"""`insight rebuild`: recompute every daily roll-up behind the dashboard and the margin report (the sales figures,
the operations figures, the margin) for a range of days (docs/insight.md; an addition to the contract in
docs/ops-cli.md, listed in docs/ops-cli-extensions.md). Bad input prints a message on stderr, changes nothing,
exits 1."""

from datetime import timedelta

import click
from flask import Flask
from flask.cli import with_appcontext

from app.cli import emit, fail
from app.core.errors import DomainError
from app.insight import margin, operations, pageviews, rollups
from app.insight.periods import today
from app.ledger.periods import parse_day


@click.group("insight", help="Dashboard and margin roll-ups.")
def cli():
    pass


@cli.command("rebuild", help="Recompute the daily roll-ups (sales, operations, margin) of local days FROM..TO "
                             "(both included; today and later days are read live and skipped). Prints JSON "
                             "{\"from\", \"to\", \"days\", \"rows\", \"skipped_live_days\", \"operations_days\", "
                             "\"margin_rows\"}.")
@click.option("--from", "first", required=True, help="First local day, e.g. 2026-01-01.")
@click.option("--to", "last", required=True, help="Last local day, e.g. 2026-01-31.")
@with_appcontext
def rebuild(first: str, last: str):
    errors = []
    days = []
    for value, field in ((first, "from"), (last, "to")):
        try:
            days.append(parse_day(value, field))
        except DomainError as e:
            errors.append(str(e.message))
    if errors:
        fail("; ".join(errors))
    try:
        result = rollups.rebuild(*days)  # checks the range before anything is written
    except DomainError as e:
        fail(str(e.message))
    over = min(days[1], today() - timedelta(days=1))
    result["operations_days"] = result["margin_rows"] = 0
    if over >= days[0]:
        pageviews.fold()
        result["operations_days"] = operations.rollup(days[0], over)
        result["margin_rows"] = margin.rebuild(days[0], over)
    emit(result)


def register(app: Flask) -> None:
    app.cli.add_command(cli)
