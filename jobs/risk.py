"""Risk control's periodic jobs: escalate overdue review holds, and the alerts to the ops inbox."""

from jobs import app_context, job_logger

log = job_logger(__name__)


def escalate_reviews() -> int:
    """Pending review holds past their due time: marked escalated, every ops and admin user told once."""
    from app.fulfilment import reviews

    with app_context():
        n = reviews.escalate_due()
    if n:
        log.warning("escalated %s overdue review holds", n)
    return n


def risk_alerts() -> int:
    """SKU surges, shared devices and IPs, failing suppliers, piling reviews: to the ops inbox, once a bucket."""
    from app.fulfilment import risk_alerts

    with app_context():
        alerts = risk_alerts.run()
    if alerts:
        log.info("risk alerts holding: %s", ", ".join(a.loggable for a in alerts))
    return len(alerts)
