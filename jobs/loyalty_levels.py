"""Member levels' periodic jobs: re-evaluate every member's level (raise at once, announce a downgrade ahead,
lower on the announced date), and give each level's monthly coupon."""

from jobs import app_context, job_logger

log = job_logger(__name__)


def evaluate_levels() -> dict:
    """Every member with a level or growth value decided once; commits per chunk, so a rerun is harmless."""
    from app.loyalty import levels

    with app_context():
        counts = levels.evaluate_all()
    log.info("member levels evaluated: %s", counts)
    return counts


def give_level_gifts() -> int:
    """This month's coupon to each member of a level that gives one (once per member and month)."""
    from app.loyalty import levels

    with app_context():
        n = levels.give_monthly_gifts()
    if n:
        log.info("gave %s monthly level coupons", n)
    return n
