from jobs import app_context, job_logger

log = job_logger(__name__)


def deliver(delivery_id: int) -> str:
    """One attempt at a delivery (or one poll of an accepted one)."""
    from app.fulfilment import engine

    with app_context():
        result = engine.process(delivery_id)
    log.info("delivery %s: %s", delivery_id, result)
    return result


def sweep() -> int:
    """Re-enqueue deliveries whose job was lost; close orders with nothing left to deliver."""
    from app.fulfilment import engine

    with app_context():
        n = engine.sweep()
    if n:
        log.info("re-enqueued %s overdue deliveries", n)
    return n


def replenish() -> int:
    """Buy card codes from suppliers for SKUs whose stock fell below their threshold."""
    from app.suppliers import replenish as service

    with app_context():
        return service.run()


def process_replenishment(replenishment_id: int) -> str:
    from app.suppliers import replenish as service

    with app_context():
        result = service.process(replenishment_id)
    log.info("replenishment %s: %s", replenishment_id, result)
    return result
