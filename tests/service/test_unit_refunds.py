"""Refunding a DELIVERED unit (after-sales) through the path its order was paid by, fully or in part
(app/fulfilment/after_sales.py): retail to the gateway's refund outbox, a reseller to its prepaid balance, an
enterprise to the company; revenue reversed, keyed, bounded, and loyalty's points and growth taken back."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.catalog.models import Sku
from app.channels import balance, wholesale
from app.channels.models import Reseller
from app.core.errors import Conflict, ValidationError
from app.core.models import AuditLog
from app.extensions import db
from app.fulfilment import after_sales
from app.fulfilment.models import Delivery, UnitRefund
from app.inventory.models import Code
from app.ledger import reports
from app.ledger import services as ledger
from app.loyalty import points
from app.loyalty.models.levels import GrowthEntry
from app.notifications.models import Notification
from app.orders import services as orders
from app.orders.models import Order
from app.payments.models import Refund
from app.procurement import claims, enterprises
from app.procurement.models import GrantOrder
from tests.support.fulfilment import assert_ledger_balanced, deliveries, pay, run
from tests.support.grants import issue, paid_request
from tests.support.threads import in_threads


def _retail(make_user, make_sku, stock, price="30.00", qty=1):
    uid = make_user()
    sku_id = make_sku(price=price)
    stock(sku_id, qty + 1)
    order = orders.create_retail_order(db.session.get(User, uid), sku_id, qty)
    assert pay(order) == "applied"
    ds = run(order.id)
    assert {d.status for d in ds} == {"delivered"}
    return uid, db.session.get(Order, order.id), ds


def _refund(order_id: int, delivery_id: int, amount: int, key: str, actor_id=None):
    order, d = db.session.get(Order, order_id), db.session.get(Delivery, delivery_id)
    row = after_sales.refund_delivered(order, d, amount_fen=amount, actor_id=actor_id, reason="code invalid",
                                       key=key)
    db.session.commit()
    return row


def _sales() -> int:
    """Net sales (6001 + 6003) as a positive number."""
    return -(ledger.balance("6001") + ledger.balance("6003"))


def test_retail_partial_then_the_rest_goes_to_the_gateway(ctx, make_user, make_sku, stock):
    uid, order, [d] = _retail(make_user, make_sku, stock)
    sales, prepaid = _sales(), ledger.balance("2203")
    assert sales == 3000
    first = _refund(order.id, d.id, 1000, "case:1")
    assert (first.amount_fen, first.delivery_id) == (1000, d.id)
    assert _sales() == 2000 and ledger.balance("2203") == prepaid  # out of revenue, through prepayments
    assert ledger.balance("2241") == -1000  # refunds payable until the gateway answers
    _refund(order.id, d.id, 2000, "case:2")
    db.session.expire_all()
    assert db.session.get(Order, order.id).refunded_fen == 3000
    assert after_sales.refundable(db.session.get(Delivery, d.id)) == 0
    assert _sales() == 0
    rows = db.session.scalars(sa.select(Refund).order_by(Refund.id)).all()
    assert [r.amount_fen for r in rows] == [1000, 2000] and {r.status for r in rows} == {"pending"}
    assert len({r.out_refund_no for r in rows}) == 2
    # the unit keeps its state: replacing or voiding its code is the case's decision
    assert db.session.get(Delivery, d.id).status == "delivered"
    notes = db.session.scalars(sa.select(Notification).where(Notification.user_id == uid,
                                                             Notification.kind == "order_refunded")).all()
    assert len(notes) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "unit.refund_delivered")) == 2
    assert_ledger_balanced()
    tb = reports.trial_balance(reports.parse_filters({}))
    assert tb.totals["debit"] == tb.totals["credit"]


def test_the_wallet_part_comes_back_first_then_the_gateway(ctx, make_user, make_sku, stock):
    """¥30 paid ¥10 from the wallet and ¥20 by the gateway: a ¥15 refund gives the ¥10 back to the wallet and
    ¥5 through the gateway; the last ¥15 all through the gateway."""
    from app.payments import services as payments
    from app.payments import wallet
    from tests.support.payments import notice

    uid = make_user()
    sku_id = make_sku(price="30.00")
    stock(sku_id, 2)
    wallet.credit(uid, 1000, kind="commission", key="t:w", source_account="6602")
    order = orders.create_retail_order(db.session.get(User, uid), sku_id, 1)
    assert payments.pay_with_wallet(order) == 1000
    db.session.commit()
    assert payments.handle_notification(notice(order.order_no, 2000)) == "applied"
    [d] = run(order.id)
    assert d.status == "delivered" and wallet.balance(uid) == 0
    _refund(order.id, d.id, 1500, "case:w1")
    assert wallet.balance(uid) == 1000
    assert [r.amount_fen for r in db.session.scalars(sa.select(Refund))] == [500]
    _refund(order.id, d.id, 1500, "case:w2")
    assert wallet.balance(uid) == 1000
    assert [r.amount_fen for r in db.session.scalars(sa.select(Refund).order_by(Refund.id))] == [500, 1500]
    assert_ledger_balanced()


def test_a_discounted_unit_refunded_in_parts_reverses_exactly_its_revenue(ctx, make_user, make_sku, stock):
    _, order, [d] = _retail(make_user, make_sku, stock)
    db.session.execute(sa.update(Delivery).where(Delivery.id == d.id).values(discount_fen=333))
    db.session.commit()
    d = db.session.get(Delivery, d.id)
    assert after_sales.sales_return(d, 0, 1000)[1] == ("6003", -111)
    parts = [after_sales.sales_return(d, before, amount) for before, amount in ((0, 1000), (1000, 1001), (2001, 999))]
    assert sum(-lines[1][1] for lines in parts) == 333
    assert all(sum(a for _, a in lines) == 0 for lines in parts)


def test_over_refund_and_bad_input_are_refused_and_change_nothing(ctx, make_user, make_sku, stock):
    _, order, [d] = _retail(make_user, make_sku, stock)
    _refund(order.id, d.id, 2500, "case:1")
    before = (_sales(), db.session.scalar(sa.select(sa.func.count()).select_from(Refund)),
              db.session.get(Order, order.id).refunded_fen)
    with pytest.raises(ValidationError) as e:
        _refund(order.id, d.id, 501, "case:2")
    assert e.value.code == "REFUND_TOO_MUCH" and "5.00" in str(e.value.message)
    db.session.rollback()
    for bad in (0, -5, "100", 1.5, True, None):
        with pytest.raises(ValidationError):
            _refund(order.id, d.id, bad, "case:3")
        db.session.rollback()
    for key in ("", "  ", "k" * 81):
        with pytest.raises(ValidationError):
            _refund(order.id, d.id, 100, key)
        db.session.rollback()
    db.session.expire_all()
    assert (_sales(), db.session.scalar(sa.select(sa.func.count()).select_from(Refund)),
            db.session.get(Order, order.id).refunded_fen) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UnitRefund)) == 1


def test_only_a_delivered_unit_of_that_order(ctx, make_user, make_sku, make_supplier, map_sku, supplier_sandbox,
                                             stock):
    _, order, [d] = _retail(make_user, make_sku, stock)
    _, other, [od] = _retail(make_user, make_sku, stock)
    with pytest.raises(Conflict):
        after_sales.refund_delivered(order, od, amount_fen=100, actor_id=None, reason="", key="x:1")
    db.session.rollback()
    sku_id = make_sku(price="30.00", source="supplier")
    map_sku(sku_id, make_supplier(), "card-10")
    supplier_sandbox.faults(error_rate=1)
    failing = orders.create_retail_order(db.session.get(User, make_user()), sku_id, 1)
    assert pay(failing) == "applied"
    [fd] = run(failing.id)
    assert fd.status == "failed"
    with pytest.raises(Conflict) as e:
        _refund(failing.id, fd.id, 100, "x:2")
    assert e.value.code == "REFUND_NOT_DELIVERED"


def test_the_same_key_refunds_once(ctx, make_user, make_sku, stock):
    _, order, [d] = _retail(make_user, make_sku, stock)
    a = _refund(order.id, d.id, 1200, "case:7")
    b = _refund(order.id, d.id, 1200, "case:7")
    assert a.id == b.id
    db.session.expire_all()
    assert db.session.get(Order, order.id).refunded_fen == 1200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Refund)) == 1
    _, other, [od] = _retail(make_user, make_sku, stock)
    with pytest.raises(Conflict):
        _refund(other.id, od.id, 100, "case:7")  # a key names one refund of one unit
    assert_ledger_balanced()


def test_points_and_growth_are_taken_back_in_proportion(ctx, make_user, make_sku, stock):
    uid, order, [d] = _retail(make_user, make_sku, stock)
    assert points.balance(uid) == 30
    earned = db.session.scalar(sa.select(sa.func.sum(GrowthEntry.amount)).where(GrowthEntry.user_id == uid))
    _refund(order.id, d.id, 1000, "case:1")
    assert points.balance(uid) == 20
    grown = db.session.scalar(sa.select(sa.func.sum(GrowthEntry.amount)).where(GrowthEntry.user_id == uid))
    assert grown == earned - earned // 3
    _refund(order.id, d.id, 2000, "case:2")
    assert points.balance(uid) == 0
    assert db.session.scalar(sa.select(sa.func.sum(GrowthEntry.amount)).where(GrowthEntry.user_id == uid)) == 0


def _wholesale(info, sku_id, qty, no):
    order, _ = wholesale.place(db.session.get(Reseller, info["id"]), None, sku=db.session.get(Sku, sku_id).sku,
                               quantity=qty, client_order_no=no)
    return db.session.get(Order, order.id)


def test_reseller_unit_goes_back_to_its_prepaid_balance(ctx, make_reseller, make_sku, make_supplier, map_sku):
    info = make_reseller(balance="1000.00", discount="10")
    sku_id = make_sku(price="30.00", source="supplier")
    map_sku(sku_id, make_supplier(), "card-10")
    order = _wholesale(info, sku_id, 2, "AS-1")
    ds = run(order.id)
    assert {x.status for x in ds} == {"delivered"}
    left = balance.of(info["id"])
    _refund(order.id, ds[0].id, 700, "case:r1")
    assert balance.of(info["id"]) == left + 700
    _refund(order.id, ds[0].id, ds[0].amount_fen - 700, "case:r2")
    assert balance.of(info["id"]) == left + ds[0].amount_fen
    db.session.expire_all()
    assert db.session.get(Order, order.id).refunded_fen == ds[0].amount_fen
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Refund)) == 0  # no gateway involved
    with pytest.raises(ValidationError):
        _refund(order.id, ds[0].id, 1, "case:r3")
    db.session.rollback()
    assert balance.of(info["id"]) == left + ds[0].amount_fen
    assert_ledger_balanced()


def test_a_code_of_a_resellers_stocked_order(ctx, make_reseller, make_sku, stock):
    """Stocked codes are issued to a wholesale order without delivery rows: a code names the unit."""
    info = make_reseller(balance="1000.00", discount="10")
    sku_id = make_sku(price="30.00")
    stock(sku_id, 3)
    order = _wholesale(info, sku_id, 2, "AS-2")
    assert order.status == "delivered" and not deliveries(order.id)
    code_ids = db.session.scalars(sa.select(Code.id).where(Code.order_id == order.id).order_by(Code.id)).all()
    left, sales = balance.of(info["id"]), _sales()

    def refund(code_id, amount, key):
        row = after_sales.refund_code(db.session.get(Order, order.id), code_id, amount_fen=amount, actor_id=None,
                                      reason="banned upstream", key=key)
        db.session.commit()
        return row

    refund(code_ids[0], 1000, "case:c1")
    assert refund(code_ids[0], 1000, "case:c1").code_id == code_ids[0]  # the same key: nothing more
    refund(code_ids[0], order.unit_price_fen - 1000, "case:c2")
    assert balance.of(info["id"]) == left + order.unit_price_fen
    assert _sales() == sales - order.unit_price_fen
    with pytest.raises(ValidationError):
        refund(code_ids[0], 1, "case:c3")
    db.session.rollback()
    with pytest.raises(Conflict):
        refund(code_ids[1], 1, "case:c1")  # that key refunded another unit
    db.session.rollback()
    stray = stock(sku_id, 1)
    assert stray
    other = db.session.scalar(sa.select(Code.id).where(Code.order_id.is_(None)))
    with pytest.raises(Conflict):
        refund(other, 100, "case:c4")  # not a code of this order
    db.session.rollback()
    assert balance.of(info["id"]) == left + order.unit_price_fen
    assert_ledger_balanced()


def test_enterprise_unit_goes_back_to_the_company(ctx, make_company, make_sku, stock):
    c = make_company(employees=1)
    sku = make_sku(price="30.00")
    stock(sku, 3)
    (gid,) = issue(paid_request(c, [(sku, 1)]))
    claims.claim(db.session.get(User, c.employee_user_ids[0]), gid)
    order_id = db.session.scalar(sa.select(GrantOrder.order_id).where(GrantOrder.grant_id == gid))
    [d] = deliveries(order_id)
    assert d.status == "delivered"
    left = enterprises.balance_of(c.organization_id)
    _refund(order_id, d.id, 500, "case:e1")
    assert enterprises.balance_of(c.organization_id) == left + 500
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Refund)) == 0
    notes = db.session.scalars(sa.select(Notification).where(Notification.user_id == c.employee_user_ids[0],
                                                             Notification.kind == "order_refunded")).all()
    assert len(notes) == 1
    assert_ledger_balanced()


@pytest.mark.committed
def test_concurrent_refunds_of_one_unit_never_exceed_it(app, make_user, make_sku, stock):
    """Eight staff refund ¥10 of one ¥30 unit at once, each under its own key: three succeed, the rest are
    told how much is left, and the unit's refunds add up to exactly ¥30."""
    with app.app_context():
        _, order, [d] = _retail(make_user, make_sku, stock)
        order_id, delivery_id = order.id, d.id

    def attempt(i):
        try:
            _refund(order_id, delivery_id, 1000, f"race:{i}")
            return "ok"
        except (ValidationError, Conflict) as e:
            db.session.rollback()
            return e.code

    results = in_threads(app, 8, list(range(8)), attempt)
    assert results.count("ok") == 3 and set(results) <= {"ok", "REFUND_TOO_MUCH"}
    with app.app_context():
        assert after_sales.refunded_of(delivery_id) == 3000
        assert db.session.get(Order, order_id).refunded_fen == 3000
        assert db.session.scalar(sa.select(sa.func.sum(Refund.amount_fen))) == 3000
        assert_ledger_balanced()


@pytest.mark.committed
def test_the_same_key_at_once_refunds_once(app, make_user, make_sku, stock):
    with app.app_context():
        _, order, [d] = _retail(make_user, make_sku, stock)
        order_id, delivery_id = order.id, d.id
    results = in_threads(app, 4, [1] * 4, lambda _: _refund(order_id, delivery_id, 1000, "case:same").id)
    assert len(set(results)) == 1
    with app.app_context():
        assert db.session.get(Order, order_id).refunded_fen == 1000
        assert_ledger_balanced()
