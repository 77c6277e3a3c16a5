"""Customer service's periodic jobs: after-sales cases past their SLA are escalated (once each)."""

from jobs import app_context, job_logger

log = job_logger(__name__)


def escalate_cases() -> int:
    """Open cases past due_at: flagged escalated, a timeline line, the buyer and the service staff told, once."""
    from app.service import cases

    with app_context():
        n = cases.escalate_overdue()
    if n:
        log.warning("escalated %s overdue after-sales cases", n)
    return n
