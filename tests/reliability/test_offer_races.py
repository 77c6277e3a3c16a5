"""Offers under real threads (PostgreSQL in CI): a buyer's two tabs placing first orders at once, many buyers
racing for the last gifts, one cross-sell price clicked in several tabs."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.inventory.models import Code
from app.marketing import offers
from app.marketing.models import FirstOrderClaim, OrderGift
from app.orders import services as orders
from app.orders.models import Order
from app.payments import services as payments
from tests.support.fulfilment import assert_ledger_balanced
from tests.support.marketing_offers import make_campaign
from tests.support.payments import notice
from tests.support.threads import run_all

pytestmark = pytest.mark.committed


def _place(buyer_id: int, sku_id: int, promo: dict | None = None):
    buyer = db.session.get(User, buyer_id)
    try:
        order = orders.create_retail_order(buyer, sku_id, 1, promo=promo)
    except Exception as e:  # a refusal is a result here
        return getattr(e, "code", type(e).__name__), None
    return order.discount_fen, order.order_no


def _pay(order_no: str) -> None:
    order = db.session.scalars(sa.select(Order).where(Order.order_no == order_no)).one()
    assert payments.handle_notification(notice(order.order_no, order.amount_fen)) == "applied"


def test_two_tabs_place_first_orders_at_once_and_one_keeps_the_price(app, make_user, make_sku, stock):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 40)
    with app.app_context():
        offers.create_first_order_offer(None, make_campaign(), "amount", amount_fen=1000)
    buyers = [make_user("consumer") for _ in range(8)]
    # Each buyer: two tabs at once (16 threads).
    results = run_all(app, _place, [(b, sku_id) for b in buyers for _ in range(2)])
    for i in range(0, len(results), 2):
        assert sorted(r[0] for r in results[i:i + 2]) == [0, 1000]  # exactly one tab got the first-order price
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FirstOrderClaim)) == len(buyers)
        # Both tabs are paid: only the discounted order carries the first-order price.
        for _discount, order_no in results:
            _pay(order_no)
        discounted = db.session.scalars(sa.select(Order.buyer_id).where(Order.discount_fen > 0)).all()
        assert sorted(discounted) == sorted(buyers)
        assert_ledger_balanced()


def test_a_released_first_order_price_goes_to_the_next_order(app, make_user, make_sku, stock):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 10)
    with app.app_context():
        offers.create_first_order_offer(None, make_campaign(), "amount", amount_fen=1000)
    buyer = make_user("consumer")
    [(discount, held)] = run_all(app, _place, [(buyer, sku_id)])
    assert discount == 1000
    # The holder is cancelled while two more tabs check out: at most one of them gets the price.
    with app.app_context():
        orders.cancel(db.session.get(User, buyer), held)
    results = run_all(app, _place, [(buyer, sku_id), (buyer, sku_id)])
    assert sorted(r[0] for r in results) == [0, 1000]


def test_buyers_racing_for_the_last_gifts_never_oversell_them(app, make_user, make_sku, stock):
    sku_id, gift_id = make_sku(price="30.00"), make_sku(price="8.00", brand="星巴克")
    stock(sku_id, 20)
    stock(gift_id, 5)
    with app.app_context():
        offers.create_gift_offer(None, make_campaign(), gift_id, trigger_sku_id=sku_id)
    buyers = [make_user("consumer") for _ in range(12)]
    results = run_all(app, _place, [(b, sku_id) for b in buyers])
    assert all(isinstance(r[0], int) for r in results)  # every order went ahead
    with app.app_context():
        statuses = db.session.scalars(sa.select(OrderGift.status)).all()
        assert sorted(statuses) == ["none_left"] * 7 + ["reserved"] * 5
        for _discount, order_no in results:
            _pay(order_no)
        delivered = db.session.scalar(sa.select(sa.func.count()).select_from(Code)
                                      .where(Code.sku_id == gift_id, Code.status == "delivered"))
        assert delivered == 5
        assert db.session.scalars(sa.select(OrderGift.status).distinct()).all() in (["none_left", "delivered"],
                                                                                    ["delivered", "none_left"])
        assert_ledger_balanced()


def test_one_cross_sell_price_in_several_tabs_is_used_once(app, make_user, make_sku, stock):
    anchor, add_on = make_sku(price="30.00"), make_sku(price="15.00", brand="QQ音乐")
    stock(anchor, 2)
    stock(add_on, 10)
    buyer = make_user("consumer")
    with app.app_context():
        pin = offers.create_pin(None, make_campaign(), anchor, add_on, price_fen=1000).id
        order = orders.create_retail_order(db.session.get(User, buyer), anchor, 1)
        _pay(order.order_no)
    results = run_all(app, _place, [(buyer, add_on, {"cross_sell": pin}) for _ in range(6)])
    outcomes = sorted(str(r[0]) for r in results)
    assert outcomes == ["500"] + ["CROSS_SELL_USED"] * 5
