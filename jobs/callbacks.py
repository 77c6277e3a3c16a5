from jobs import app_context, job_logger

log = job_logger(__name__)


def send(callback_id: int, actor_id: int | None = None) -> str:
    """One POST of an order callback to the reseller (claimed with a lease: a duplicate run sends nothing)."""
    from app.channels import callbacks

    with app_context():
        outcome = callbacks.send(callback_id, actor_id=actor_id)
    log.info("callback %s: %s", callback_id, outcome)
    return outcome


def sweep() -> int:
    """Enqueue due callbacks whose job was lost."""
    from app.channels import callbacks

    with app_context():
        n = callbacks.sweep()
    if n:
        log.info("re-enqueued %s due callbacks", n)
    return n
