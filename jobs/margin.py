"""The margin report's daily roll-up (app/insight/margin.py), kept by the periodic list in jobs/schedule.py."""

from jobs import app_context, job_logger

log = job_logger(__name__)


def refresh_margin() -> int:
    """Roll up the finished days lately booked on; a rerun rewrites the same rows."""
    from app.insight import margin

    with app_context():
        n = margin.refresh()
    log.info("margin roll-up: %s rows written", n)
    return n
