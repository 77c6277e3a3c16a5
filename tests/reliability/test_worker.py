"""The real worker process: `quanyi worker --burst` runs queued jobs against the same database."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.ids import utcnow
from app.extensions import db
from app.orders import services as orders
from app.orders.models import Order
from app.queues import queue
from tests.support.jobs import run_burst_worker


@pytest.mark.slow
@pytest.mark.committed
@pytest.mark.parametrize("flags", [[], ["--no-fork"]])
def test_worker_process_expires_unpaid_orders(app, make_user, make_sku, stock, flags):
    with app.app_context():
        sku_id = make_sku()
        stock(sku_id, 1)
        order = orders.create_retail_order(db.session.get(User, make_user("consumer")), sku_id, 1)
        db.session.execute(sa.update(Order).where(Order.id == order.id)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        q = queue("maintenance")
        q.empty()
        q.enqueue("jobs.maintenance.expire_orders")
        order_id = order.id
    run_burst_worker(app, *flags)
    with app.app_context():
        assert db.session.get(Order, order_id).status == "expired"
        assert queue("maintenance").count == 0


def test_periodic_jobs_register_with_rq_cron(app):
    from rq.cron import CronScheduler

    from jobs.schedule import PERIODIC

    with app.app_context():
        from app.queues import QUEUES, connection

        scheduler = CronScheduler(connection=connection())
        for func, queue_name, interval in PERIODIC:
            assert queue_name in QUEUES
            scheduler.register(func, queue_name=queue_name, interval=interval)
        names = {f.__name__ for f, _, _ in PERIODIC}
        assert {"expire_orders", "expire_entitlements", "process_refunds", "resume_stalled_imports"} <= names
