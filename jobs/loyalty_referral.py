"""Referral's periodic job: commissions past their refund window are paid into the promoters' wallets."""

from jobs import app_context, job_logger

log = job_logger(__name__)


def mature_commissions() -> int:
    """Pending commissions whose refund window passed: available (in the wallet), or cancelled if refunded."""
    from app.loyalty.referral import commissions

    with app_context():
        n = commissions.mature()
    if n:
        log.info("referral: %s commissions matured", n)
    return n
