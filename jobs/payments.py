from jobs import app_context, job_logger

log = job_logger(__name__)


def refund_payment(payment_id: int) -> bool:
    from app.payments import services

    with app_context():
        done = services.refund(payment_id)
    log.info("refund of payment %s: %s", payment_id, "done" if done else "nothing to do")
    return done


def process_refunds() -> int:
    """The outbox sweep: every payment still in refund_pending is sent (again) to the gateway."""
    from app.payments import services
    from app.payments.gateway import GatewayError

    done = 0
    with app_context():
        for payment_id in services.pending_refunds():
            try:
                done += services.refund(payment_id)
            except GatewayError as e:
                log.warning("refund of payment %s failed, will retry: %s", payment_id, e)
    return done
