"""The delivery engine against the real sandbox supplier process: every product type, retries, failover,
polling, callbacks, and the guarantees — delivered at most once, every order ends somewhere visible."""

from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.catalog.models import Sku
from app.core.errors import Conflict, InsufficientStock, NotFound, ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment import engine, services
from app.fulfilment import exception_queue as ops
from app.fulfilment.models import Delivery, DeliveryAttempt, Entitlement
from app.inventory import services as inventory
from app.ledger import services as ledger
from app.orders import services as orders
from app.orders.models import Order
from app.payments import refunds
from app.payments.models import Refund
from app.suppliers import replenish
from app.suppliers import services as suppliers
from app.suppliers.models import Replenishment
from tests.support.fulfilment import assert_ledger_balanced, callback, deliveries, pay, pay_on_gateway, run


@pytest.fixture
def buyer(ctx, make_user):
    return db.session.get(User, make_user("consumer"))


@pytest.fixture
def sup(ctx, make_supplier):
    return make_supplier()


def topup_sku(make_sku, map_sku, sup, product="topup-mobile-50", fmt="mobile", cost=4800):
    sku_id = make_sku(price="49.50", face="50.00", type_="direct_topup", source="supplier", account_format=fmt,
                      brand="中国移动", name="话费 50 元")
    map_sku(sku_id, sup, product, cost=cost)
    return sku_id


def test_topup_with_account_is_topped_up_once(buyer, make_sku, map_sku, sup, supplier_sandbox):
    sku_id = topup_sku(make_sku, map_sku, sup)
    order = orders.create_retail_order(buyer, sku_id, 2, accounts={"mobile": "138 0013 8000"})
    assert order.accounts == {"mobile": "13800138000"}
    assert pay(order) == "applied"
    ds = deliveries(order.id)
    assert [d.status for d in ds] == ["queued", "queued"] and ds[0].out_order_no == ds[0].key
    assert services.state_of(order) == "in_progress"
    ds = run(order.id)
    assert [d.status for d in ds] == ["delivered", "delivered"]
    assert {e.status for e in db.session.scalars(sa.select(Entitlement).where(Entitlement.order_id == order.id))} \
        == {"used"}
    db.session.refresh(order)
    assert order.status == "delivered" and services.state_of(order) == "delivered"
    record = supplier_sandbox.topups()
    assert sorted(r["out_order_no"] for r in record) == sorted(d.key for d in ds)
    assert {r["account"] for r in record} == {"13800138000"}
    # Running the jobs again (RQ is at-least-once) changes nothing and calls nobody.
    for d in ds:
        assert engine.process(d.id) == "skipped"
    assert len(supplier_sandbox.topups()) == 2
    assert ledger.balance("6001") == -9900 and ledger.balance("6401") == 9600 and ledger.balance("2202") == -9600
    assert ledger.balance("2203") == 0
    assert_ledger_balanced()


def test_wrong_account_format_is_refused_before_anything_is_charged(buyer, make_sku, map_sku, sup):
    sku_id = topup_sku(make_sku, map_sku, sup, product="topup-qq", fmt="qq")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Order))
    for bad in ("0123", "abc", "1" * 13, "13800138000x"):
        with pytest.raises(ValidationError) as e:
            orders.create_retail_order(buyer, sku_id, 1, accounts={"qq": bad})
        assert e.value.code == "ACCOUNT_INVALID" and "QQ" in str(e.value.message)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)) == before


def test_topup_benefit_redeemed_later(buyer, make_sku, map_sku, sup, supplier_sandbox):
    sku_id = topup_sku(make_sku, map_sku, sup)
    order = orders.create_retail_order(buyer, sku_id, 1)
    pay(order)
    db.session.refresh(order)
    [d] = deliveries(order.id)
    assert d.status == "awaiting_account" and order.status == "delivered"
    ent = d.entitlement
    assert ent.status == "unused"
    with pytest.raises(ValidationError):
        services.redeem_topup(buyer, ent.id, "12345")
    assert deliveries(order.id)[0].status == "awaiting_account"
    services.redeem_topup(buyer, ent.id, "13900139000")
    with pytest.raises(ValidationError):
        services.redeem_topup(buyer, ent.id, "13900139000")
    [d] = run(order.id)
    assert d.status == "delivered" and d.account == "13900139000"
    assert [r["account"] for r in supplier_sandbox.topups()] == ["13900139000"]
    assert ledger.balance("6001") == -4950 and ledger.balance("2203") == 0


def test_unredeemed_topup_expires_into_breakage(buyer, make_sku, map_sku, sup):
    sku_id = topup_sku(make_sku, map_sku, sup)
    order = orders.create_retail_order(buyer, sku_id, 1)
    pay(order)
    [d] = deliveries(order.id)
    db.session.execute(sa.update(Entitlement).where(Entitlement.id == d.entitlement_id)
                       .values(valid_until=utcnow() - timedelta(days=1)))
    db.session.commit()
    assert services.expire_entitlements() == 1
    assert deliveries(order.id)[0].status == "expired"
    assert ledger.balance("2203") == 0 and ledger.balance("6001") == -4950


def test_card_and_link_bought_from_the_supplier(buyer, make_sku, map_sku, sup):
    card = make_sku(source="supplier", name="爱奇艺月卡")
    map_sku(card, sup, "card-iqiyi-1m")
    link = make_sku(type_="link", source="supplier", name="喜马拉雅链接")
    map_sku(link, sup, "link-xmly")
    got = {}
    for sku_id in (card, link):
        order = orders.create_retail_order(buyer, sku_id, 1)
        pay(order)
        [d] = run(order.id)
        assert d.status == "delivered"
        ent = db.session.get(Entitlement, d.entitlement_id)
        assert ent.status == "unused" and ent.code_id
        got[sku_id] = services.reveal(buyer, ent.id)["code"]
    assert got[card].startswith("SB")
    assert got[link].startswith("https://")


def test_bundle_splits_delivery_and_derives_its_state(buyer, make_sku, map_sku, sup, stock, supplier_sandbox):
    video = make_sku(price="25.00", name="腾讯视频月卡")
    stock(video, 3)
    music = topup_sku(make_sku, map_sku, sup, product="topup-qqmusic", fmt="qq")
    bundle = make_sku(price="30.00", type_="bundle", name="腾讯视频+QQ音乐 联合会员", components=[(video, 1), (music, 1)])
    order = orders.create_retail_order(buyer, bundle, 2, accounts={"qq": "10001"})
    assert inventory.available_counts([video]) == {video: 1}
    pay(order)
    ds = deliveries(order.id)
    assert sorted(d.status for d in ds) == ["delivered", "delivered", "queued", "queued"]
    assert sum(d.amount_fen for d in ds) == 6000
    assert services.state_of(order) == "partially_delivered"
    supplier_sandbox.faults(error_rate=1)
    ds = run(order.id)
    assert services.state_of(order) == "partially_delivered"
    assert sorted(d.status for d in ds) == ["delivered", "delivered", "failed", "failed"]
    supplier_sandbox.calm()
    for d in ds:
        if d.status == "failed":
            ops.retry_now(None, d.id)
    ds = run(order.id)
    assert [d.status for d in ds] == ["delivered"] * 4
    db.session.refresh(order)
    assert order.status == "delivered" and services.state_of(order) == "delivered"
    # Only the failed components were retried: the stock codes were delivered once, at payment.
    assert len(supplier_sandbox.topups()) == 2
    ents = db.session.scalars(sa.select(Entitlement).where(Entitlement.order_id == order.id)).all()
    assert {e.bundle_sku_id for e in ents} == {bundle}
    assert_ledger_balanced()


def test_shared_codes_are_sold_up_to_their_use_limit(ctx, make_user, make_sku, stock):
    sku_id = make_sku(source="shared", name="瑞幸 共享券")
    [code] = stock(sku_id, codes=["LOOP-2026-ABCD"], max_uses=3)
    assert services.availability([db.session.get(Sku, sku_id)])[sku_id] == 3
    got = []
    for _ in range(3):
        buyer = db.session.get(User, make_user("consumer"))
        order = orders.create_retail_order(buyer, sku_id, 1)
        pay(order)
        [d] = deliveries(order.id)
        assert d.status == "delivered"
        got.append(services.reveal(buyer, d.entitlement_id)["code"])
    assert got == [code] * 3
    slots = db.session.scalars(sa.select(Entitlement.code_use).where(Entitlement.sku_id == sku_id)).all()
    assert sorted(slots) == [1, 2, 3]
    late = db.session.get(User, make_user("consumer"))
    with pytest.raises(InsufficientStock):
        orders.create_retail_order(late, sku_id, 1)


def test_failover_to_the_next_supplier_when_a_product_is_unavailable(buyer, make_sku, map_sku, make_supplier,
                                                                    supplier_sandbox):
    first, second = make_supplier(), make_supplier()
    sku_id = make_sku(type_="direct_topup", source="supplier", account_format="mobile")
    map_sku(sku_id, first, "topup-sold-out", priority=1)
    map_sku(sku_id, second, "topup-ok", priority=2)
    supplier_sandbox.faults(out_of_stock=["topup-sold-out"])
    order = orders.create_retail_order(buyer, sku_id, 1, accounts={"mobile": "13700137000"})
    pay(order)
    [d] = run(order.id)
    assert d.status == "delivered" and d.supplier_id == second and d.out_order_no == f"{d.key}-r1"
    assert [r["product_id"] for r in supplier_sandbox.topups()] == ["topup-ok"]
    outcomes = db.session.scalars(sa.select(DeliveryAttempt.outcome).where(DeliveryAttempt.delivery_id == d.id)
                                  .order_by(DeliveryAttempt.id)).all()
    assert outcomes == ["unavailable", "delivered"]


def test_errors_exhaust_retries_into_the_exception_queue(buyer, make_sku, map_sku, sup, supplier_sandbox):
    sku_id = topup_sku(make_sku, map_sku, sup)
    supplier_sandbox.faults(error_rate=1)
    order = orders.create_retail_order(buyer, sku_id, 1, accounts={"mobile": "13800138000"})
    pay(order)
    [d] = run(order.id)
    assert d.status == "failed" and d.attempts == 4 and "SYSTEM_ERROR" in d.last_error
    assert ops.open_count() == 1
    assert services.state_of(order) == "failed"
    db.session.refresh(order)
    assert order.status == "paid"
    kinds = [(h["kind"], h.get("outcome") or h.get("to")) for h in ops.history(d)]
    assert ("attempt", "unknown") in kinds and ("state", "failed") in kinds
    assert supplier_sandbox.topups() == []


@pytest.mark.parametrize("fault", ["garbage_rate", "html_rate"])
def test_garbage_answers_are_unknown_and_never_charge_twice(buyer, make_sku, map_sku, sup, supplier_sandbox, fault):
    sku_id = topup_sku(make_sku, map_sku, sup)
    supplier_sandbox.faults(**{fault: 1})
    order = orders.create_retail_order(buyer, sku_id, 1, accounts={"mobile": "13800138000"})
    pay(order)
    [d] = run(order.id, rounds=2)
    assert d.status == "queued" and "not a supplier reply" in d.last_error
    supplier_sandbox.calm()
    [d] = run(order.id)
    assert d.status == "delivered" and len(supplier_sandbox.topups()) == 1


def test_a_timeout_that_did_top_up_is_found_again_not_repeated(buyer, make_sku, map_sku, sup, supplier_sandbox):
    sku_id = topup_sku(make_sku, map_sku, sup)
    supplier_sandbox.faults(timeout_rate=1)
    order = orders.create_retail_order(buyer, sku_id, 1, accounts={"mobile": "13800138000"})
    pay(order)
    [d] = deliveries(order.id)
    assert engine.process(d.id) == "retry"
    d = deliveries(order.id)[0]
    assert d.last_error == "timeout" and d.out_order_no == d.key  # same key: the outcome is unknown
    assert len(supplier_sandbox.topups()) == 1  # the supplier did it
    supplier_sandbox.calm()
    [d] = run(order.id)
    assert d.status == "delivered" and len(supplier_sandbox.topups()) == 1


def test_accepted_then_failed_is_retried_under_a_new_out_order_no(buyer, make_sku, map_sku, sup, supplier_sandbox):
    sku_id = topup_sku(make_sku, map_sku, sup)
    supplier_sandbox.faults(accept_then_fail_rate=1, callback_delay_ms=50)
    order = orders.create_retail_order(buyer, sku_id, 1, accounts={"mobile": "13800138000"})
    pay(order)
    [d] = deliveries(order.id)
    assert engine.process(d.id) == "accepted"
    import time

    time.sleep(0.3)
    supplier_sandbox.calm()
    [d] = run(order.id)
    assert d.status == "delivered" and d.out_order_no == f"{d.key}-r1"
    assert [r["out_order_no"] for r in supplier_sandbox.topups()] == [f"{d.key}-r1"]


def test_callbacks_are_verified_and_never_move_a_delivery_backwards(buyer, make_sku, map_sku, sup, supplier_sandbox):
    sku_id = topup_sku(make_sku, map_sku, sup)
    supplier_sandbox.faults(async_rate=1, callback_delay_ms=5000)
    order = orders.create_retail_order(buyer, sku_id, 1, accounts={"mobile": "13800138000"})
    pay(order)
    [d] = deliveries(order.id)
    assert engine.process(d.id) == "accepted"
    supplier = suppliers.get(sup)
    path = f"/supplier/callback/{supplier.code}"
    success = {"order_no": "SO1", "out_order_no": d.out_order_no, "status": "SUCCESS", "cards": []}
    headers, body = callback(path, success, key="wrong-key")
    assert engine.handle_callback(supplier.code, "POST", path, headers, body)[0] == 401
    headers, body = callback(path, success, ts=1)
    assert engine.handle_callback(supplier.code, "POST", path, headers, body) == (401, "stale")
    assert engine.handle_callback("nobody", "POST", path, headers, body)[0] == 404
    for _ in range(2):  # duplicate
        headers, body = callback(path, success)
        assert engine.handle_callback(supplier.code, "POST", path, headers, body)[0] == 200
    for status in ("PROCESSING", "FAILED"):  # out of order, late
        headers, body = callback(path, dict(success, status=status))
        engine.handle_callback(supplier.code, "POST", path, headers, body)
    [d] = deliveries(order.id)
    assert d.status == "delivered"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Entitlement)
                             .where(Entitlement.order_id == order.id, Entitlement.status == "used")) == 1
    assert ledger.balance("6001") == -4950
    assert_ledger_balanced()


def test_unknown_supplier_product_is_refused_when_mapping(ctx, make_sku, sup):
    sku_id = make_sku(type_="direct_topup", source="supplier", account_format="mobile")
    with pytest.raises(ValidationError) as e:
        suppliers.save_mapping(None, supplier_id=sup, sku_id=sku_id, product_id="nonsense-42", cost_fen=100)
    assert "nonsense-42" in str(e.value.message)
    assert suppliers.mappings_for(sku_id) == []


def test_unmapped_supplier_sku_is_not_on_sale(buyer, make_sku):
    sku_id = make_sku(type_="direct_topup", source="supplier", account_format="mobile")
    with pytest.raises(NotFound):
        orders.create_retail_order(buyer, sku_id, 1, accounts={"mobile": "13800138000"})


def test_refund_of_a_failed_unit_goes_back_through_the_gateway(buyer, make_sku, map_sku, sup, supplier_sandbox,
                                                               paygate):
    sku_id = topup_sku(make_sku, map_sku, sup)
    supplier_sandbox.faults(error_rate=1)
    order = orders.create_retail_order(buyer, sku_id, 2, accounts={"mobile": "13800138000"})
    assert pay_on_gateway(order, paygate) == "applied"
    ds = run(order.id)
    assert [d.status for d in ds] == ["failed", "failed"]
    supplier_sandbox.calm()
    ops.retry_now(None, ds[0].id)
    ops.refund(None, ds[1].id, reason="客户要求退款")
    with pytest.raises(Conflict):
        ops.refund(None, ds[1].id)
    ds = run(order.id)
    assert [d.status for d in ds] == ["delivered", "refunded"]
    db.session.refresh(order)
    assert order.status == "delivered" and order.refunded_fen == 4950
    [refund] = db.session.scalars(sa.select(Refund)).all()
    assert refund.amount_fen == 4950 and refund.status == "pending"
    assert refunds.send(refund.id) is True and refunds.send(refund.id) is False
    trade = [t for t in httpx.get(f"{paygate}/_sandbox/trades").json() if t["out_trade_no"] == order.order_no]
    assert trade[0]["refunds"] == 1 and trade[0]["status"] == "SUCCESS"  # partly refunded
    assert ledger.balance("1122") == 4950 and ledger.balance("2241") == 0 and ledger.balance("2203") == 0
    assert_ledger_balanced()


def test_a_success_after_giving_up_still_counts(buyer, make_sku, map_sku, sup, supplier_sandbox):
    sku_id = topup_sku(make_sku, map_sku, sup)
    supplier_sandbox.faults(timeout_rate=1)
    order = orders.create_retail_order(buyer, sku_id, 1, accounts={"mobile": "13800138000"})
    pay(order)
    [d] = run(order.id)
    assert d.status == "failed"
    supplier_sandbox.calm()
    # Refunding first asks the supplier, which did top up: the unit is delivered, not refunded.
    with pytest.raises(Conflict) as e:
        ops.refund(None, d.id)
    assert e.value.code == "DELIVERED_AFTER_ALL"
    [d] = deliveries(order.id)
    assert d.status == "delivered" and len(supplier_sandbox.topups()) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Refund)) == 0


def test_replenishment_buys_codes_into_stock_below_the_threshold(ctx, make_sku, map_sku, sup, stock):
    sku_id = make_sku(name="网易云音乐月卡")
    map_sku(sku_id, sup, "card-netease", cost=1500)
    stock(sku_id, 2)
    sku = db.session.get(Sku, sku_id)
    sku.replenish_below, sku.replenish_quantity = 5, 10
    db.session.commit()
    assert replenish.run() == 1
    assert replenish.run() == 0  # one open replenishment per SKU
    [r] = db.session.scalars(sa.select(Replenishment)).all()
    assert replenish.process(r.id) == "done"
    assert replenish.process(r.id) == "nothing to do"
    assert inventory.available_counts([sku_id]) == {sku_id: 12}
    assert ledger.balance("1405") == 15000 and ledger.balance("2202") == -15000


def test_delivery_ids_are_the_idempotency_keys(buyer, make_sku, map_sku, sup):
    sku_id = topup_sku(make_sku, map_sku, sup)
    order = orders.create_retail_order(buyer, sku_id, 3, accounts={"mobile": "13800138000"})
    pay(order)
    keys = [d.key for d in deliveries(order.id)]
    assert keys == [f"{order.order_no}-{n:03d}" for n in (1, 2, 3)]
    # A second payment notice (a replay) cannot write the units again.
    assert pay(order) == "duplicate"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)
                             .where(Delivery.order_id == order.id)) == 3


def test_a_bundle_edited_between_order_and_payment_still_takes_the_payment(buyer, make_sku, stock):
    from app.catalog.models import BundleComponent

    video, music = make_sku(name="视频月卡"), make_sku(name="音乐月卡")
    stock(video, 2)
    stock(music, 2)
    bundle = make_sku(price="30.00", type_="bundle", components=[(video, 1)])
    order = orders.create_retail_order(buyer, bundle, 1)
    db.session.add(BundleComponent(bundle_id=bundle, component_id=music, quantity=1, position=1))
    db.session.commit()
    assert pay(order) == "applied"
    assert sorted(d.status for d in deliveries(order.id)) == ["delivered", "failed"]
    assert ops.open_count() == 1
    assert_ledger_balanced()
