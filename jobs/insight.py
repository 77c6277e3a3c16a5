"""Insight jobs: the daily sales roll-ups kept up to date (a rerun writes the same rows)."""

from jobs import app_context, job_logger

log = job_logger(__name__)


def roll_up_sales() -> int:
    from app.insight import rollups

    with app_context():
        n = rollups.keep_up()
    log.info("rolled up %s days of sales", n)
    return n
