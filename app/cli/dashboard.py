"""`dashboard rebuild-operations`: recompute the operations figures' daily roll-ups of any range from the orders."""

import click
from flask.cli import with_appcontext

from app.cli import emit, fail
from app.core.errors import ValidationError
from app.insight import operations, pageviews, periods


@click.group("dashboard", help="The ops dashboard's daily roll-ups.")
def cli():
    pass


@cli.command("rebuild-operations", help="Recompute the SKU roll-ups of the days FROM..TO (today is always live) and "
                                        "fold the past days' product page views Redis still holds. Rerunning "
                                        "writes the same rows. Prints JSON {\"days\": n, \"from\", \"to\"}.")
@click.option("--from", "first", required=True, help="First day, 2026-11-01.")
@click.option("--to", "last", required=True, help="Last day, 2026-11-30 (included).")
@with_appcontext
def rebuild_operations(first: str, last: str):
    try:
        period = periods.parse({"range": "custom", "from": first, "to": last})
    except ValidationError as e:
        fail("; ".join(str(x.message) for x in e.details.get("errors", [e])))
    pageviews.fold()
    emit({"days": operations.rollup(period.first, period.last), "from": period.first.isoformat(),
          "to": period.last.isoformat()})


def register(app) -> None:
    app.cli.add_command(cli)
