from jobs import app_context, job_logger

log = job_logger(__name__)


def send_email(email_id: int) -> str:
    """Send one outbox email (claimed with a lease: a duplicate or late run of this job sends nothing)."""
    from app.notifications import mail

    with app_context():
        outcome = mail.send(email_id)
    log.info("email %s: %s", email_id, outcome)
    return outcome


def sweep_outbox() -> dict:
    """The outbox sweep: emails whose job was lost, whose retry is due, or whose sender died."""
    from app.notifications import mail

    with app_context():
        counts = mail.sweep()
    if counts:
        log.info("outbox sweep: %s", counts)
    return counts


def remind_expiring() -> int:
    from app.fulfilment import reminders

    with app_context():
        n = reminders.remind_expiring()
    if n:
        log.info("sent %s expiry reminders", n)
    return n
