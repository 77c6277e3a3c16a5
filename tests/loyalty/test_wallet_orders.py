"""Orders paid from the wallet: in part (the gateway pays the rest) or whole (paid at once, no gateway); the
refusals; the wallet part given back when the order closes unpaid; refunds wallet part first on every path
(review rejection, an undeliverable unit, a payment landing after the order closed)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment import exception_queue as ops
from app.fulfilment import reviews
from app.ledger import services as ledger
from app.orders import services as orders
from app.orders.models import Order, OrderReview
from app.payments import services as payments
from app.payments import wallet
from app.payments.models import Payment, Refund
from tests.loyalty.wallet_support import fund
from tests.support.fulfilment import assert_ledger_balanced, pay, run
from tests.support.payments import notice
from tests.support.reviews import hold_rule


@pytest.fixture
def buyer(ctx, make_user) -> User:
    return db.session.get(User, make_user())


@pytest.fixture
def sku(make_sku, stock) -> int:
    sku_id = make_sku(price="28.00")
    stock(sku_id, 6)
    return sku_id


def _payment(order) -> Payment:
    return db.session.scalars(sa.select(Payment).where(Payment.order_id == order.id)
                              .execution_options(populate_existing=True)).one()


def _apply(order) -> int:
    taken = payments.pay_with_wallet(order)
    db.session.commit()
    return taken


def test_the_wallet_pays_part_and_the_gateway_the_rest(buyer, sku):
    fund(buyer.id, 1000)
    order = orders.create_retail_order(buyer, sku, 1)
    assert _apply(order) == 1000
    assert (order.wallet_fen, _payment(order).amount_fen, order.status) == (1000, 1800, "pending_payment")
    assert wallet.balance(buyer.id) == 0 and ledger.balance("2203") == -1000
    assert pay(order) == "amount_mismatch"  # the gateway is owed the remainder only
    assert payments.handle_notification(notice(order.order_no, 1800)) == "applied"
    db.session.refresh(order)
    assert order.status in ("paid", "delivered")
    assert ledger.balance("1122") == 1800
    assert_ledger_balanced()


def test_a_wholly_covered_order_is_paid_without_the_gateway(buyer, sku):
    fund(buyer.id, 5000)
    order = orders.create_retail_order(buyer, sku, 1)
    assert _apply(order) == 2800
    db.session.refresh(order)
    p = _payment(order)
    assert order.status == "delivered" and (p.status, p.provider, p.amount_fen) == ("succeeded", "internal", 0)
    assert wallet.balance(buyer.id) == 2200 and ledger.balance("1122") == 0
    assert_ledger_balanced()


def test_an_empty_wallet_is_refused_and_nothing_changes(buyer, sku):
    order = orders.create_retail_order(buyer, sku, 1)
    with pytest.raises(ValidationError) as e:
        payments.pay_with_wallet(order)
    db.session.rollback()
    assert e.value.code == "WALLET_INSUFFICIENT" and str(e.value.message) == "钱包余额不足。"
    db.session.refresh(order)
    assert order.wallet_fen == 0 and _payment(order).amount_fen == 2800


def test_the_wallet_applies_once_and_only_to_an_unpaid_order(buyer, sku):
    fund(buyer.id, 1000)
    order = orders.create_retail_order(buyer, sku, 1)
    _apply(order)
    fund(buyer.id, 500, key="test:fund2")
    with pytest.raises(ValidationError) as e:
        payments.pay_with_wallet(order)
    assert e.value.code == "WALLET_ALREADY_APPLIED" and str(e.value.message) == "该订单已使用过钱包余额。"
    db.session.rollback()
    orders.cancel(buyer, order.order_no)
    with pytest.raises(ValidationError) as e:
        payments.pay_with_wallet(order)
    assert e.value.code == "ORDER_NOT_UNPAID" and str(e.value.message) == "该订单已不在待支付状态。"
    db.session.rollback()
    assert wallet.balance(buyer.id) == 1500  # the cancelled order gave its 1000 back


def test_an_expired_order_gives_the_wallet_part_back_once(buyer, sku):
    fund(buyer.id, 1000)
    order = orders.create_retail_order(buyer, sku, 1)
    _apply(order)
    db.session.execute(sa.update(Order).where(Order.id == order.id).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    assert orders.expire_unpaid() == 1 and orders.expire_unpaid() == 0
    assert wallet.balance(buyer.id) == 1000 and ledger.balance("2203") == 0
    # the gateway's part lands after all: the order cannot be whole again, so that part is refunded
    assert payments.handle_notification(notice(order.order_no, 1800)) == "refunding"
    assert wallet.balance(buyer.id) == 1000 and _payment(order).status == "refund_pending"
    assert ledger.balance("2241") == -1800
    assert_ledger_balanced()


def _held_order(buyer, sku, make_user, wallet_fen):
    hold_rule(db.session.get(User, make_user("ops")))
    fund(buyer.id, wallet_fen)
    order = orders.create_retail_order(buyer, sku, 2)
    _apply(order)
    return order


def test_a_rejected_review_refunds_a_wallet_paid_order_to_the_wallet(buyer, sku, make_user):
    order = _held_order(buyer, sku, make_user, 6000)
    db.session.refresh(order)
    assert order.status == "paid" and wallet.balance(buyer.id) == 400
    review = db.session.scalars(sa.select(OrderReview).where(OrderReview.order_id == order.id)).one()
    reviews.reject(db.session.get(User, make_user("ops")), review.id, "looks wrong")
    assert wallet.balance(buyer.id) == 6000 and _payment(order).status == "refunded"
    assert ledger.balance("2203") == 0 and ledger.balance("2241") == 0
    assert_ledger_balanced()


def test_a_rejected_review_of_a_part_wallet_order_splits_the_refund(buyer, sku, make_user):
    order = _held_order(buyer, sku, make_user, 2000)
    assert payments.handle_notification(notice(order.order_no, 3600)) == "applied"
    review = db.session.scalars(sa.select(OrderReview).where(OrderReview.order_id == order.id)).one()
    reviews.reject(db.session.get(User, make_user("ops")), review.id)
    assert wallet.balance(buyer.id) == 2000 and _payment(order).status == "refund_pending"
    assert ledger.balance("2241") == -3600  # through the gateway, by the refund sweep
    assert_ledger_balanced()


@pytest.fixture
def topup_sku(make_sku, map_sku, make_supplier):
    sku_id = make_sku(price="49.50", face="50.00", type_="direct_topup", source="supplier", account_format="mobile",
                      brand="中国移动", name="话费 50 元")
    map_sku(sku_id, make_supplier(), "topup-mobile-50", cost=4800)
    return sku_id


def test_an_undeliverable_unit_is_refunded_wallet_part_first(buyer, topup_sku, supplier_sandbox):
    fund(buyer.id, 6000)
    supplier_sandbox.faults(error_rate=1)
    order = orders.create_retail_order(buyer, topup_sku, 2, accounts={"mobile": "13800138000"})
    _apply(order)
    assert payments.handle_notification(notice(order.order_no, 3900)) == "applied"
    ds = run(order.id)
    assert [d.status for d in ds] == ["failed", "failed"]
    ops.refund(None, ds[0].id, reason="no stock", confirmed=True)
    assert wallet.balance(buyer.id) == 4950 and db.session.scalar(sa.select(sa.func.count()).select_from(Refund)) == 0
    ops.refund(None, ds[1].id, reason="no stock", confirmed=True)
    assert wallet.balance(buyer.id) == 6000  # the rest of the wallet's 6000 …
    [refund] = db.session.scalars(sa.select(Refund)).all()
    assert refund.amount_fen == 3900  # … and the gateway's part through the gateway
    db.session.refresh(order)
    assert order.refunded_fen == 9900
    assert_ledger_balanced()
