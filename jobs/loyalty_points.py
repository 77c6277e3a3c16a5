"""Points' periodic jobs: expire ended lots, and remind members before their points expire. Both are safe to
run twice or to kill halfway (each member's expiry commits under their lock; each lot is reminded once)."""

from jobs import app_context, job_logger

log = job_logger(__name__)


def expire_points() -> int:
    """Lots past their end lose what they have left (an `expire` entry each)."""
    from app.loyalty import points

    with app_context():
        n = points.expire_due()
    if n:
        log.info("expired %s points", n)
    return n


def remind_points_expiring() -> int:
    """Members whose points end within ops' reminder window hear it once per lot."""
    from app.loyalty import points_earning

    with app_context():
        n = points_earning.remind_expiring()
    if n:
        log.info("reminded %s members of expiring points", n)
    return n
