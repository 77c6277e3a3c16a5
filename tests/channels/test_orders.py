"""Wholesale orders: pricing, pools, balance, idempotency, issuance (services, no HTTP)."""

import pytest
import sqlalchemy as sa

from app.channels import balance, files, issuance, pools, pricing, resellers, wholesale
from app.channels.models import Issuance, Reseller
from app.core.errors import Conflict, InsufficientStock, ValidationError
from app.extensions import db
from app.inventory.models import Code, CodeStatus
from app.ledger import services as ledger
from app.orders.models import Order
from tests.support.fulfilment import assert_ledger_balanced


def _r(info) -> Reseller:
    return db.session.get(Reseller, info["id"])


def _sku(sku_id):
    from app.catalog.models import Sku

    return db.session.get(Sku, sku_id)


def test_tier_price_is_retail_less_discount_unless_overridden(ctx, make_reseller, make_sku):
    r = _r(make_reseller(discount="12.5"))
    sku = _sku(make_sku(price="28.00"))
    assert pricing.unit_price(r, sku) == 2450
    resellers.set_tier_price(r.tier, sku, 2300, None)
    assert pricing.unit_price(r, sku) == 2300


def test_small_stocked_order_is_delivered_at_once_and_charged(ctx, make_reseller, make_sku, stock):
    r = _r(make_reseller(balance="1000.00", discount="10"))
    sku_id = make_sku(price="28.00")
    stock(sku_id, 10)
    order, created = wholesale.place(r, None, sku=_sku(sku_id).sku, quantity=3, client_order_no="A-1")
    assert created and order.status == "delivered"
    assert wholesale.to_api(order)["status"] == "delivered"
    assert wholesale.to_api(order)["delivered_quantity"] == 3
    assert balance.of(r.id) == 100000 - 3 * 2520
    assert ledger.balance("6001") == -3 * 2520
    data, n = files.write_csv(order)
    assert n == 3 and data.decode("utf-8-sig").startswith("code,secret,expires_at")
    assert_ledger_balanced()


def test_same_client_order_no_returns_the_same_order_and_charges_once(ctx, make_reseller, make_sku, stock):
    r = _r(make_reseller())
    sku_id = make_sku()
    stock(sku_id, 5)
    code = _sku(sku_id).sku
    first, _ = wholesale.place(r, None, sku=code, quantity=2, client_order_no="X")
    again, created = wholesale.place(r, None, sku=code, quantity=2, client_order_no="X")
    assert not created and again.id == first.id
    with pytest.raises(Conflict) as e:
        wholesale.place(r, None, sku=code, quantity=3, client_order_no="X")
    assert e.value.code == "IDEMPOTENCY_CONFLICT"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)) == 1


def test_insufficient_stock_and_balance_change_nothing(ctx, make_reseller, make_sku, stock):
    r = _r(make_reseller(balance="100.00"))
    sku_id = make_sku(price="28.00")
    stock(sku_id, 1)
    code = _sku(sku_id).sku
    with pytest.raises(InsufficientStock):
        wholesale.place(r, None, sku=code, quantity=2, client_order_no="S")
    stock(sku_id, 5)
    with pytest.raises(Conflict) as e:
        wholesale.place(r, None, sku=code, quantity=4, client_order_no="B")
    assert e.value.code == "INSUFFICIENT_BALANCE"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Code).where(Code.status != "available")) == 0
    assert balance.of(r.id) == 10000


@pytest.mark.parametrize("quantity", [0, -1, 100_001, "3", 2.5, True])
def test_bad_quantity(ctx, make_reseller, make_sku, quantity):
    r = _r(make_reseller())
    with pytest.raises(ValidationError) as e:
        wholesale.place(r, None, sku=_sku(make_sku()).sku, quantity=quantity, client_order_no="Q")
    assert e.value.code == "QUANTITY_INVALID"


def test_pool_is_ring_fenced(ctx, make_reseller, make_sku, stock):
    a, b = _r(make_reseller(name="甲")), _r(make_reseller(name="乙"))
    sku_id = make_sku()
    stock(sku_id, 5)
    sku = _sku(sku_id)
    pools.allocate(sku, a, 3, None)
    with pytest.raises(InsufficientStock):
        wholesale.place(b, None, sku=sku.sku, quantity=3, client_order_no="B1")
    order, _ = wholesale.place(b, None, sku=sku.sku, quantity=2, client_order_no="B2")
    assert order.status == "delivered"
    # a's pool is untouched and only a can take it; without overflow, a cannot take shared stock
    with pytest.raises(InsufficientStock):
        wholesale.place(a, None, sku=sku.sku, quantity=4, client_order_no="A0")
    order, _ = wholesale.place(a, None, sku=sku.sku, quantity=3, client_order_no="A1")
    pooled = db.session.scalars(sa.select(Code.pool_id).where(Code.order_id == order.id)).all()
    assert len(pooled) == 3 and all(p is not None for p in pooled)


def test_pool_reclaim_returns_unused_codes(ctx, make_reseller, make_sku, stock):
    a = _r(make_reseller())
    sku_id = make_sku()
    stock(sku_id, 4)
    pool = pools.allocate(_sku(sku_id), a, 4, None)
    assert pools.reclaim(pool, 3, None) == 3
    assert pools.pools_of(a.id)[0]["available"] == 1


def test_large_order_is_issued_by_the_job_in_batches(app, ctx, make_reseller, make_sku, stock):
    app.config.update(ISSUANCE_THRESHOLD=10, ISSUANCE_BATCH=7)
    try:
        r = _r(make_reseller(balance="5000.00"))
        sku_id = make_sku(price="10.00")
        stock(sku_id, 30)
        order, _ = wholesale.place(r, None, sku=_sku(sku_id).sku, quantity=25, client_order_no="BIG")
        assert order.status == "paid" and wholesale.to_api(order)["status"] == "processing"
        iss = db.session.scalars(sa.select(Issuance).where(Issuance.order_id == order.id)).one()
        seen = []
        issuance.run(iss.id, progress=lambda phase, n, total: seen.append((phase, n)))
        db.session.expire_all()
        assert db.session.get(Order, order.id).status == "delivered"
        assert ("issuing", 7) in seen and ("files", 25) in seen
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Code)
                                 .where(Code.order_id == order.id, Code.status == CodeStatus.delivered)) == 25
        name, data, _ = files.download(db.session.get(Order, order.id), "xlsx", None)
        assert name.endswith(".xlsx") and data[:2] == b"PK"
        assert ledger.balance("6001") == -25 * 900
        assert_ledger_balanced()
    finally:
        app.config.update(ISSUANCE_THRESHOLD=500, ISSUANCE_BATCH=5000)


def test_an_interrupted_issuance_resumes_without_issuing_or_posting_twice(app, ctx, make_reseller, make_sku, stock,
                                                                          monkeypatch):
    app.config.update(ISSUANCE_THRESHOLD=10, ISSUANCE_BATCH=4)
    try:
        r = _r(make_reseller(balance="5000.00"))
        sku_id = make_sku(price="10.00")
        stock(sku_id, 20)
        order, _ = wholesale.place(r, None, sku=_sku(sku_id).sku, quantity=15, client_order_no="CRASH")
        iss_id = db.session.scalars(sa.select(Issuance.id).where(Issuance.order_id == order.id)).one()
        # The worker dies while writing the files, after every batch committed.
        monkeypatch.setattr(files, "store", lambda order: (_ for _ in ()).throw(SystemExit("killed")))
        with pytest.raises(SystemExit):
            issuance.run(iss_id)
        db.session.rollback()
        assert issuance.run(iss_id).status == "running"  # its lease still holds: a second worker stays out
        db.session.execute(sa.update(Issuance).where(Issuance.id == iss_id).values(lease_until=None))
        db.session.commit()
        monkeypatch.undo()
        assert issuance.run(iss_id).status == "done"
        db.session.expire_all()
        assert db.session.get(Order, order.id).status == "delivered"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Code)
                                 .where(Code.order_id == order.id, Code.status == CodeStatus.delivered)) == 15
        assert ledger.balance("6001") == -15 * 900  # every batch's revenue once
        assert len(files.stored(db.session.get(Order, order.id))) == 2
        assert_ledger_balanced()
    finally:
        app.config.update(ISSUANCE_THRESHOLD=500, ISSUANCE_BATCH=5000)


def test_unit_path_orders_go_through_the_fulfilment_engine(ctx, make_reseller, make_sku, make_supplier, map_sku):
    from tests.support.fulfilment import run

    r = _r(make_reseller())
    sku_id = make_sku(type_="direct_topup", price="30.00", account_format="mobile")
    map_sku(sku_id, make_supplier(), "topup-mobile-30")
    with pytest.raises(ValidationError) as e:
        wholesale.place(r, None, sku=_sku(sku_id).sku, quantity=1, client_order_no="T0")
    assert e.value.code == "ACCOUNT_REQUIRED"
    order, _ = wholesale.place(r, None, sku=_sku(sku_id).sku, quantity=2, client_order_no="T1", account="13800138000")
    assert wholesale.to_api(order)["status"] == "processing"
    run(order.id)
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert wholesale.to_api(order)["status"] == "delivered" and wholesale.delivered_quantity(order) == 2
    assert balance.of(r.id) == 100000 - 2 * 2700
    assert_ledger_balanced()
