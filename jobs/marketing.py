from jobs import app_context, job_logger

log = job_logger(__name__)


def compute_cross_sell() -> int:
    """Rewrite "often bought together" from paid retail orders (a rerun writes the same rows)."""
    from app.marketing import offers

    with app_context():
        n = offers.compute_recommendations()
    log.info("wrote %s cross-sell recommendations", n)
    return n
