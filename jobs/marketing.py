from jobs import app_context, job_logger

log = job_logger(__name__)


def expire_groups() -> int:
    """Fail the group buys whose time ran out unfilled: refund their paid members, close the unpaid orders."""
    from app.marketing import groups

    with app_context():
        failed = groups.expire_groups()
    log.info("group buys failed: %s", failed)
    return failed
