from jobs import app_context, job_logger

log = job_logger(__name__)


def expire_orders() -> int:
    from app.orders import services

    with app_context():
        n = services.expire_unpaid()
    if n:
        log.info("expired %s unpaid orders", n)
    return n


def expire_entitlements() -> int:
    from app.fulfilment import services

    with app_context():
        n = services.expire_entitlements()
    if n:
        log.info("marked %s entitlements expired", n)
    return n


def fold_stock_counts() -> int:
    """Fold the stock count deltas the code triggers appended into one row per SKU and status."""
    from app.inventory import counts

    with app_context():
        return counts.fold()
