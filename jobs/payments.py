from jobs import app_context, job_logger

log = job_logger(__name__)


def refund_payment(payment_id: int) -> bool:
    from app.payments import services

    with app_context():
        done = services.refund(payment_id)
    log.info("refund of payment %s: %s", payment_id, "done" if done else "nothing to do")
    return done


def send_refund(refund_id: int) -> bool:
    """Send one unit refund to the gateway."""
    from app.payments import refunds

    with app_context():
        done = refunds.send(refund_id)
    log.info("unit refund %s: %s", refund_id, "done" if done else "nothing to do")
    return done


def process_refunds() -> int:
    """The outbox sweep: every payment still in refund_pending, and every pending unit refund, is sent
    (again) to the gateway."""
    from app.extensions import db
    from app.payments import refunds, services
    from app.payments.gateway import GatewayError

    done = 0
    with app_context():
        for payment_id in services.pending_refunds():
            try:
                done += services.refund(payment_id)
            except GatewayError as e:
                db.session.rollback()
                log.warning("refund of payment %s failed, will retry: %s", payment_id, e)
        for refund_id in refunds.pending():
            try:
                done += refunds.send(refund_id)
            except GatewayError as e:
                db.session.rollback()
                log.warning("unit refund %s failed, will retry: %s", refund_id, e)
    return done
