"""Subscriptions' jobs: charge one (queued when an agreement is signed), the sweep of due charges and
retries, reminders before a charge, and unsigning the agreements of cancelled plans. Each is safe to run
twice or to rerun after a kill: a period is charged under one out_trade_no per attempt, which the gateway
charges once."""

from jobs import app_context, job_logger

log = job_logger(__name__)


def charge(subscription_id: int) -> str:
    from app.loyalty import subscription_charges

    with app_context():
        outcome = subscription_charges.charge(subscription_id)
    log.info("subscription %s: %s", subscription_id, outcome)
    return outcome


def charge_due() -> int:
    from app.extensions import db
    from app.loyalty import subscription_charges

    n = 0
    with app_context():
        for sub_id in subscription_charges.due():
            try:
                outcome = subscription_charges.charge(sub_id)
            except Exception:
                db.session.rollback()
                log.exception("subscription %s: charge failed; the next sweep tries again", sub_id)
                continue
            log.info("subscription %s: %s", sub_id, outcome)
            n += 1
    return n


def remind() -> int:
    from app.loyalty import subscription_charges

    with app_context():
        return subscription_charges.remind()


def unsign(subscription_id: int) -> bool:
    from app.loyalty import subscriptions

    with app_context():
        return subscriptions.unsign(subscription_id)


def unsign_pending() -> int:
    from app.extensions import db
    from app.loyalty import subscriptions
    from app.payments.gateway import GatewayError

    done = 0
    with app_context():
        for sub_id in subscriptions.pending_unsigns():
            try:
                done += subscriptions.unsign(sub_id)
            except GatewayError as e:
                db.session.rollback()
                log.warning("unsigning subscription %s failed, will retry: %s", sub_id, e)
    return done
