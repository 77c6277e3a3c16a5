"""Insight jobs: the dashboard's and the margin report's daily roll-ups kept up to date (a rerun writes the same
rows)."""

from jobs import app_context, job_logger

log = job_logger(__name__)


def roll_up_sales() -> int:
    from app.insight import rollups

    with app_context():
        n = rollups.keep_up()
    log.info("rolled up %s days of sales", n)
    return n


def roll_operations() -> int:
    """Fold past days' product page views out of Redis and re-roll the last days' SKU figures (idempotent)."""
    from app.insight import operations

    with app_context():
        n = operations.roll_recent()
    log.info("rolled up %s days of operations figures", n)
    return n


def refresh_margin() -> int:
    """The margin report's roll-up (app/insight/margin.py): the finished days lately booked on; a rerun rewrites
    the same rows."""
    from app.insight import margin

    with app_context():
        n = margin.refresh()
    log.info("margin roll-up: %s rows written", n)
    return n
