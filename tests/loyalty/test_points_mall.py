"""The points mall: a points-only item is bought through checkout and paid without the gateway (its points a
6003 sales discount, revenue what was paid in cash: nothing); points plus cash waits for the gateway and gives
its points back if it closes unpaid; every refusal says why and changes nothing."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import NotFound, ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.ledger import services as ledger
from app.loyalty import points, points_mall
from app.loyalty.models.points import MallItem, PointsEntry
from app.orders import services as orders
from app.orders.models import Order, OrderStatus
from app.payments.models import Payment
from tests.loyalty.test_points import assert_points_balanced
from tests.support.fulfilment import assert_ledger_balanced, pay


def _orders() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Order))


@pytest.fixture
def mall(ctx, make_user, make_sku, stock):
    def make(points_=500, cash="0", price="20.00", n_stock=3):
        sku_id = make_sku(price=price)
        stock(sku_id, n_stock)
        from app.core.money import parse_yuan
        item = points_mall.save_item(make_user("ops"), sku_id=sku_id, title="视频月卡", points_=points_,
                                     cash_fen=parse_yuan(cash))
        return item.id
    return make


def _member(make_user, have: int) -> User:
    uid = make_user()
    if have:
        points.earn(uid, have, kind="grant", key=f"t:{uid}")
        db.session.commit()
    return db.session.get(User, uid)


def test_points_only_buys_and_delivers_without_the_gateway(mall, make_user):
    item_id = mall(points_=500)
    buyer = _member(make_user, 800)
    order = points_mall.buy(buyer, item_id)
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.amount_fen == 0 and order.discount_fen == 2000
    assert order.status in (OrderStatus.paid, OrderStatus.delivered) and order.paid_at is not None
    pay_row = db.session.scalars(sa.select(Payment).where(Payment.order_id == order.id)).one()
    assert (pay_row.provider, pay_row.amount_fen, pay_row.status) == ("internal", 0, "succeeded")
    assert points.balance(buyer.id) == 300
    # earned nothing on ¥0 of cash; the books: the points are a 6003 discount, revenue net of it is 0
    assert order.status == OrderStatus.delivered
    assert ledger.balance("6003") == 2000 and ledger.balance("6001") == -2000
    assert_points_balanced(buyer.id)
    assert_ledger_balanced()


def test_not_enough_points_is_refused_and_nothing_changes(mall, make_user):
    item_id = mall(points_=500)
    buyer = _member(make_user, 499)
    before = (_orders(), db.session.scalar(sa.select(sa.func.count()).select_from(PointsEntry)))
    with pytest.raises(ValidationError) as e:
        points_mall.buy(buyer, item_id)
    assert e.value.code == "POINTS_INSUFFICIENT"
    db.session.rollback()
    assert (_orders(), db.session.scalar(sa.select(sa.func.count()).select_from(PointsEntry))) == before
    assert points.balance(buyer.id) == 499


def test_a_stopped_or_unknown_item_is_refused(mall, make_user):
    item_id = mall()
    buyer = _member(make_user, 1000)
    item = db.session.get(MallItem, item_id)
    points_mall.save_item(None, sku_id=item.sku_id, title=item.title, points_=item.points, cash_fen=0,
                          active=False, item_id=item_id)
    for ref in (item_id, 99999):
        with pytest.raises(NotFound) as e:
            points_mall.buy(buyer, ref)
        assert e.value.code == "MALL_ITEM_NOT_FOUND"
    assert _orders() == 0 and points.balance(buyer.id) == 1000


def test_points_cannot_be_combined_or_bought_in_quantity(mall, make_user):
    item_id = mall()
    buyer = _member(make_user, 2000)
    item = db.session.get(MallItem, item_id)
    with pytest.raises(ValidationError) as e:
        orders.create_retail_order(buyer, item.sku_id, 2, promo={"points_item": item_id})
    assert e.value.code == "MALL_QUANTITY"
    with pytest.raises(ValidationError) as e:
        orders.create_retail_order(buyer, item.sku_id, 1, promo={"points_item": item_id, "coupon": "1"})
    # whichever receiver reads the order first refuses it (the coupon is not the buyer's, or points don't stack)
    assert e.value.code in ("MALL_NOT_STACKABLE", "COUPON_NOT_FOUND")
    assert _orders() == 0 and points.balance(buyer.id) == 2000


def test_points_plus_cash_waits_for_the_gateway_and_gives_points_back_when_it_closes(mall, make_user):
    item_id = mall(points_=300, cash="5.00")
    buyer = _member(make_user, 300)
    order = points_mall.buy(buyer, item_id)
    assert order.amount_fen == 500 and order.status == OrderStatus.pending_payment
    assert points.balance(buyer.id) == 0
    orders.cancel(buyer, order.order_no)
    assert points.balance(buyer.id) == 300
    # paid this time: the cash earns points at the rate (¥5: 5 points), the spent 300 stay spent
    order = points_mall.buy(buyer, item_id)
    assert pay(order) == "applied"
    assert points.balance(buyer.id) == 5
    assert_points_balanced(buyer.id)
    assert_ledger_balanced()


def test_an_expired_unpaid_mall_order_gives_points_back(mall, make_user):
    item_id = mall(points_=300, cash="5.00")
    buyer = _member(make_user, 300)
    order = points_mall.buy(buyer, item_id)
    db.session.execute(sa.update(Order).where(Order.id == order.id).values(expires_at=utcnow() - timedelta(1)))
    db.session.commit()
    assert orders.expire_unpaid() == 1
    assert points.balance(buyer.id) == 300
    assert_points_balanced(buyer.id)


@pytest.mark.parametrize("field,kwargs,code", [
    ("points", {"points_": 0}, "POINTS_INVALID"),
    ("cash", {"cash_fen": 2000}, "CASH_INVALID"),
    ("title", {"title": " "}, "TITLE_REQUIRED"),
    ("sku", {"sku_id": 0}, "SKU_REQUIRED"),
])
def test_mall_item_validation(ctx, make_sku, field, kwargs, code):
    sku_id = make_sku(price="20.00")
    args = {"sku_id": sku_id, "title": "x", "points_": 10, "cash_fen": 0, **kwargs}
    with pytest.raises(ValidationError) as e:
        points_mall.save_item(None, **args)
    assert e.value.code == code
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MallItem)) == 0


def test_points_do_not_stack_with_another_offer(mall, make_user):
    from types import SimpleNamespace

    from app.orders.signals import Checkout, Discount
    item_id = mall()
    buyer = _member(make_user, 2000)
    item = db.session.get(MallItem, item_id)
    order = SimpleNamespace(id=0, quantity=1, unit_price_fen=2000, order_no="X")
    for promo, discounts in (({"points_item": item_id, "group": "3"}, []),
                             ({"points_item": item_id}, [Discount("first_order", 1, 100)])):
        checkout = Checkout(order=order, buyer=buyer, sku=SimpleNamespace(id=item.sku_id), promo=promo,
                            discounts=list(discounts))
        with pytest.raises(ValidationError) as e:
            points_mall.price(checkout)
        assert e.value.code == "MALL_NOT_STACKABLE" and str(e.value.message) == "积分不能与其他优惠同时使用。"
    assert points.balance(buyer.id) == 2000
