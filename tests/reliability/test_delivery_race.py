"""Real threads racing on one delivery: workers claiming it at once, polls against callbacks, duplicate
callbacks in parallel. One top-up, one entitlement change, one revenue posting — on PostgreSQL row locks
(and SQLite's serialised writers)."""

import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.fulfilment import engine
from app.fulfilment.models import Delivery, Entitlement
from app.ledger import services as ledger
from app.ledger.models import JournalEntry
from app.orders import services as orders
from app.suppliers.models import Supplier
from tests.support.fulfilment import assert_ledger_balanced, callback, pay


def race(app, n: int, target) -> Counter:
    barrier = threading.Barrier(n)
    results: list = []

    def run(i):
        with app.app_context():
            barrier.wait()
            try:
                results.append(target(i))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return Counter(results)


def _paid_topup(app, make_user, make_sku, make_supplier, map_sku) -> int:
    with app.app_context():
        sup = make_supplier()
        sku_id = make_sku(type_="direct_topup", source="supplier", account_format="mobile")
        map_sku(sku_id, sup, "topup-race")
        order = orders.create_retail_order(db.session.get(User, make_user("consumer")), sku_id, 1,
                                           accounts={"mobile": "13600136000"})
        pay(order)
        return db.session.scalar(sa.select(Delivery.id).where(Delivery.order_id == order.id))


def _check_once(app, delivery_id: int, supplier_sandbox) -> None:
    with app.app_context():
        d = db.session.get(Delivery, delivery_id)
        assert d.status == "delivered"
        assert db.session.get(Entitlement, d.entitlement_id).status == "used"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry)
                                 .where(JournalEntry.idempotency_key == f"delivery:{d.id}:revenue")) == 1
        assert ledger.balance("2203") == 0
        assert_ledger_balanced()
    assert len(supplier_sandbox.topups()) == 1


@pytest.mark.committed
def test_sixteen_workers_claiming_one_delivery_call_the_supplier_once(app, make_user, make_sku, make_supplier,
                                                                     map_sku, supplier_sandbox):
    delivery_id = _paid_topup(app, make_user, make_sku, make_supplier, map_sku)
    supplier_sandbox.faults(latency_ms=100)
    results = race(app, 16, lambda i: engine.process(delivery_id))
    assert results == Counter({"delivered": 1, "skipped": 15})
    assert len(supplier_sandbox.orders()) == 1
    _check_once(app, delivery_id, supplier_sandbox)


@pytest.mark.committed
def test_polls_and_duplicate_callbacks_racing_apply_the_success_once(app, make_user, make_sku, make_supplier,
                                                                    map_sku, supplier_sandbox):
    delivery_id = _paid_topup(app, make_user, make_sku, make_supplier, map_sku)
    supplier_sandbox.faults(async_rate=1, callback_delay_ms=300, drop_callback_rate=1)
    with app.app_context():
        assert engine.process(delivery_id) == "accepted"
        d = db.session.get(Delivery, delivery_id)
        code = db.session.get(Supplier, d.supplier_id).code
        out_order_no = d.out_order_no
    time.sleep(0.5)  # the sandbox has finished the order by now (and sent no callback)
    path = f"/supplier/callback/{code}"
    order = {"order_no": "SO-RACE", "out_order_no": out_order_no, "status": "SUCCESS", "cards": []}

    def either(i):
        if i % 2:
            return engine.process(delivery_id)
        headers, body = callback(path, order, event_id=f"E{i}")
        return engine.handle_callback(code, "POST", path, headers, body)[1]

    results = race(app, 12, either)
    assert results["delivered"] == 1, results
    assert set(results) <= {"delivered", "stale", "skipped"}
    _check_once(app, delivery_id, supplier_sandbox)
