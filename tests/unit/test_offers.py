"""Offers (issue 16): the first-order discount, spend-and-get gifts (reserved with the order, delivered as an extra
unit, booked at list value with the same amount to sales discounts, taken back on refund) and cross-sell (the job,
pins, the cross-sell price and each of its refusals)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from app.accounts.models import User
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment import exception_queue as ops
from app.fulfilment import services as fulfilment
from app.fulfilment.models import Delivery, Entitlement
from app.inventory import services as inventory
from app.ledger import services as ledger
from app.marketing import offers, promotions
from app.marketing.models import CrossSellUse, FirstOrderClaim, OrderGift, Recommendation
from app.orders import services as orders
from app.orders.models import Order
from app.payments.models import Payment
from tests.support.fulfilment import assert_ledger_balanced, pay, run
from tests.support.marketing_offers import make_campaign


@pytest.fixture
def buyer(ctx, make_user):
    return db.session.get(User, make_user("consumer"))


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --- first order -------------------------------------------------------------------------------------------------

def test_a_new_buyer_gets_the_first_order_discount_once(buyer, make_sku, stock):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 5)
    offers.create_first_order_offer(None, make_campaign(), "amount", amount_fen=500)
    first = orders.create_retail_order(buyer, sku_id, 2)
    assert (first.discount_fen, first.amount_fen) == (500, 5500)
    assert [(p.source, p.discount_fen) for p in promotions.of_order(first.id)] == [("first_order", 500)]
    assert pay(first) == "applied"
    assert ledger.balance("6001") == -6000 and ledger.balance("6003") == 500
    second = orders.create_retail_order(buyer, sku_id, 1)
    assert (second.discount_fen, second.amount_fen) == (0, 3000)
    assert_ledger_balanced()


def test_percentage_with_a_cap_and_a_scope(buyer, make_user, make_sku, stock):
    in_scope, other = make_sku(price="100.00"), make_sku(price="100.00")
    stock(in_scope, 2)
    stock(other, 2)
    offers.create_first_order_offer(None, make_campaign(), "percent", percent=20, cap_fen=1500, sku_ids=[in_scope])
    assert orders.create_retail_order(buyer, other, 1).discount_fen == 0
    someone = db.session.get(User, make_user("consumer"))
    assert orders.create_retail_order(someone, in_scope, 1).discount_fen == 1500  # 20% is ¥20, capped at ¥15
    # Another campaign's offer that has ended gives nothing.
    offers.create_first_order_offer(None, make_campaign(status="ended"), "amount", amount_fen=9000)
    third = db.session.get(User, make_user("consumer"))
    assert orders.create_retail_order(third, in_scope, 1).discount_fen == 1500


def test_an_unpaid_earlier_order_does_not_make_the_buyer_old(buyer, make_sku, stock):
    """The open order holds the first-order price; once it closes unpaid, the next order gets it."""
    sku_id = make_sku(price="30.00")
    stock(sku_id, 5)
    offers.create_first_order_offer(None, make_campaign(), "amount", amount_fen=800)
    held = orders.create_retail_order(buyer, sku_id, 1)
    assert held.discount_fen == 800
    assert orders.create_retail_order(buyer, sku_id, 1).discount_fen == 0  # another tab: the claim is taken
    orders.cancel(buyer, held.order_no)
    assert _count(FirstOrderClaim) == 0
    again = orders.create_retail_order(buyer, sku_id, 1)
    assert again.discount_fen == 800
    assert offers.is_new_buyer(buyer.id)


def test_a_refunded_buyer_is_not_new_and_a_chosen_promotion_wins(buyer, make_sku, stock):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 3)
    offers.create_first_order_offer(None, make_campaign(), "amount", amount_fen=800)
    # The buyer chose another promotion (e.g. a coupon of a non-stackable campaign): no automatic discount.
    order = orders.create_retail_order(buyer, sku_id, 1, promo={"test_promo": "x"})
    assert order.discount_fen == 0 and _count(FirstOrderClaim) == 0
    db.session.execute(sa.update(Order).where(Order.id == order.id).values(status="refunded", paid_at=utcnow()))
    assert not offers.is_new_buyer(buyer.id)


# --- spend-and-get -------------------------------------------------------------------------------------------------

def _gift_setup(make_sku, stock, gifts: int = 1, threshold_fen: int | None = None, trigger: bool = True):
    sku_id = make_sku(price="30.00")
    gift_id = make_sku(price="8.00", brand="星巴克", name="咖啡券")
    stock(sku_id, 5)
    if gifts:
        stock(gift_id, gifts)
    offer = offers.create_gift_offer(None, make_campaign(), gift_id, trigger_sku_id=sku_id if trigger else None,
                                     threshold_fen=threshold_fen)
    return sku_id, gift_id, offer


def test_a_gift_is_reserved_delivered_and_booked_at_list_value(buyer, make_sku, stock):
    sku_id, gift_id, _ = _gift_setup(make_sku, stock)
    order = orders.create_retail_order(buyer, sku_id, 1)
    assert order.amount_fen == 3000  # a gift is not a discount on what is paid
    assert inventory.available_counts([gift_id]).get(gift_id, 0) == 0  # reserved with the order
    assert pay(order) == "applied"
    db.session.refresh(order)
    assert order.status == "delivered"
    [gift] = offers.gifts_of(order.id)
    assert gift.status == "delivered" and gift.value_fen == 800
    units = db.session.scalars(sa.select(Delivery).where(Delivery.order_id == order.id).order_by(Delivery.id)).all()
    assert [(d.sku_id, d.amount_fen, d.discount_fen, d.extra, d.status) for d in units] == [
        (sku_id, 3000, 0, False, "delivered"), (gift_id, 0, 800, True, "delivered")]
    ent = db.session.get(Entitlement, units[1].entitlement_id)
    assert ent.owner_id == buyer.id and ent.code_id is not None
    assert fulfilment.reveal(buyer, ent.id)  # the buyer can open the gift's code
    assert ledger.balance("6001") == -3800 and ledger.balance("6003") == 800  # net revenue = what was paid
    assert ledger.balance("2203") == 0
    assert_ledger_balanced()


def test_when_no_gift_is_left_the_order_goes_ahead_without_it(buyer, make_sku, stock):
    sku_id, gift_id, _ = _gift_setup(make_sku, stock, gifts=0)
    order = orders.create_retail_order(buyer, sku_id, 1)
    assert [g.status for g in offers.gifts_of(order.id)] == ["none_left"]
    pay(order)
    assert [d.sku_id for d in db.session.scalars(sa.select(Delivery).where(Delivery.order_id == order.id))] == [sku_id]
    assert ledger.balance("6003") == 0
    assert_ledger_balanced()


def test_a_threshold_gift_and_its_code_back_in_stock_when_the_order_closes(buyer, make_sku, stock):
    sku_id, gift_id, _ = _gift_setup(make_sku, stock, threshold_fen=5000, trigger=False)
    small = orders.create_retail_order(buyer, sku_id, 1)  # ¥30: under the threshold
    assert offers.gifts_of(small.id) == []
    big = orders.create_retail_order(buyer, sku_id, 2)  # ¥60
    assert [g.status for g in offers.gifts_of(big.id)] == ["reserved"]
    orders.cancel(buyer, big.order_no)
    assert [g.status for g in offers.gifts_of(big.id)] == ["released"]
    assert inventory.available_counts([gift_id]) == {gift_id: 1}


def test_gifts_cannot_be_oversold(buyer, make_user, make_sku, stock):
    sku_id, gift_id, _ = _gift_setup(make_sku, stock, gifts=1)
    first = orders.create_retail_order(buyer, sku_id, 1)
    other = db.session.get(User, make_user("consumer"))
    second = orders.create_retail_order(other, sku_id, 1)
    assert [g.status for g in offers.gifts_of(first.id)] == ["reserved"]
    assert [g.status for g in offers.gifts_of(second.id)] == ["none_left"]


def test_a_gift_is_taken_back_when_its_order_is_refunded(buyer, make_sku, map_sku, make_supplier, stock,
                                                         supplier_sandbox):
    sup = make_supplier()
    topup = make_sku(price="49.50", face="50.00", type_="direct_topup", source="supplier", account_format="mobile",
                     brand="中国移动", name="话费 50 元")
    map_sku(topup, sup, "topup-mobile-50", cost=4800)
    gift_id = make_sku(price="8.00", brand="星巴克", name="咖啡券")
    stock(gift_id, 1)
    offers.create_gift_offer(None, make_campaign(), gift_id, trigger_sku_id=topup)
    supplier_sandbox.faults(error_rate=1)
    order = orders.create_retail_order(buyer, topup, 1, accounts={"mobile": "13800138000"})
    pay(order)
    ds = run(order.id)
    assert [(d.extra, d.status) for d in ds] == [(False, "failed"), (True, "delivered")]
    gift_ent = ds[1].entitlement_id
    assert ledger.balance("6003") == 800
    supplier_sandbox.calm()
    ops.refund(None, ds[0].id, reason="客户要求退款")
    db.session.refresh(order)
    assert order.status == "refunded"  # the gift does not keep a refunded order open
    [gift] = offers.gifts_of(order.id)
    assert gift.status == "taken_back"
    ent = db.session.get(Entitlement, gift_ent)
    assert ent.status == "refunded"
    with pytest.raises(ValidationError):
        fulfilment.reveal(buyer, ent.id)  # the code is not shown any more
    assert ledger.balance("6001") == 0 and ledger.balance("6003") == 0  # the gift's booking reversed
    assert fulfilment.take_back(ds[1].id, reason="again") is False  # once
    assert_ledger_balanced()


# --- cross-sell ------------------------------------------------------------------------------------------------------

def _paid(buyer, sku_id, quantity=1):
    order = orders.create_retail_order(buyer, sku_id, quantity)
    assert pay(order) == "applied"
    return order


def test_the_job_counts_pairs_bought_by_the_same_buyers(ctx, make_user, make_sku, stock):
    a, b, c, d = (make_sku(price="10.00") for _ in range(4))
    for s in (a, b, c, d):
        stock(s, 10)
    users = [db.session.get(User, make_user("consumer")) for _ in range(3)]
    for user, bought in zip(users, [(a, b, c), (a, b), (a, c, c)], strict=True):
        for s in bought:
            _paid(user, s)
    unpaid = db.session.get(User, make_user("consumer"))
    orders.create_retail_order(unpaid, a, 1)
    orders.create_retail_order(unpaid, d, 1)  # never paid: no pair
    assert offers.compute_recommendations(top_n=5) == 6
    rows = db.session.execute(sa.select(Recommendation.sku_id, Recommendation.recommended_sku_id,
                                        Recommendation.buyers, Recommendation.rank)
                              .order_by(Recommendation.sku_id, Recommendation.rank)).all()
    assert [tuple(r) for r in rows] == [(a, b, 2, 1), (a, c, 2, 2), (b, a, 2, 1), (b, c, 1, 2),
                                        (c, a, 2, 1), (c, b, 1, 2)]
    assert offers.compute_recommendations(top_n=1) == 3  # rewritten, top N per SKU
    assert [r["sku"].id for r in offers.recommendations(a)] == [b]


def test_pins_come_first(ctx, make_user, make_sku, stock):
    a, b, c = (make_sku(price="10.00") for _ in range(3))
    for s in (a, b, c):
        stock(s, 5)
    user = db.session.get(User, make_user("consumer"))
    _paid(user, a)
    _paid(user, b)
    offers.compute_recommendations()
    offers.create_pin(None, make_campaign(), a, c, price_fen=500)
    recs = offers.recommendations(a)
    assert [(r["sku"].id, r["price_fen"]) for r in recs] == [(c, 500), (b, None)]


@pytest.fixture
def cross_sell(buyer, make_sku, stock):
    anchor = make_sku(price="30.00", name="腾讯视频 月卡")
    add_on = make_sku(price="15.00", brand="QQ音乐", name="QQ音乐 月卡")
    stock(anchor, 5)
    stock(add_on, 5)
    pin = offers.create_pin(None, make_campaign(), anchor, add_on, price_fen=1000)
    return anchor, add_on, pin


def test_a_buyer_of_the_anchor_gets_the_cross_sell_price_once(buyer, cross_sell):
    anchor, add_on, pin = cross_sell
    _paid(buyer, anchor)
    order = orders.create_retail_order(buyer, add_on, 1, promo={"cross_sell": str(pin.id)})
    assert (order.discount_fen, order.amount_fen) == (500, 1000)
    assert [(p.source, p.ref_id) for p in promotions.of_order(order.id)] == [("cross_sell", pin.id)]
    pay(order)
    assert ledger.balance("6003") == 500
    assert_ledger_balanced()


def _refused(buyer, sku_id, pin_id, code: str) -> str:
    orders_before, payments_before = _count(Order), _count(Payment)
    with pytest.raises(ValidationError) as e:
        orders.create_retail_order(buyer, sku_id, 1, promo={"cross_sell": str(pin_id)})
    assert e.value.code == code
    assert (_count(Order), _count(Payment)) == (orders_before, payments_before)  # nothing charged
    with force_locale("zh_CN"):
        return str(e.value.message)


def test_refused_when_not_eligible(buyer, make_user, cross_sell):
    anchor, add_on, pin = cross_sell
    assert "24 小时" in _refused(buyer, add_on, pin.id, "CROSS_SELL_NOT_ELIGIBLE")
    # bought more than 24 hours ago: not eligible either
    old = _paid(buyer, anchor)
    db.session.execute(sa.update(Order).where(Order.id == old.id).values(paid_at=utcnow() - timedelta(hours=25)))
    _refused(buyer, add_on, pin.id, "CROSS_SELL_NOT_ELIGIBLE")
    _refused(buyer, anchor, pin.id, "CROSS_SELL_NOT_ELIGIBLE")  # the pin is for the add-on SKU only
    assert inventory.available_counts([add_on]) == {add_on: 5}


def test_refused_when_already_used(buyer, cross_sell):
    anchor, add_on, pin = cross_sell
    _paid(buyer, anchor)
    pay(orders.create_retail_order(buyer, add_on, 1, promo={"cross_sell": pin.id}))
    assert "已经用过" in _refused(buyer, add_on, pin.id, "CROSS_SELL_USED")
    assert _count(CrossSellUse) == 1


def test_refused_when_the_offer_ended(buyer, cross_sell):
    anchor, add_on, pin = cross_sell
    _paid(buyer, anchor)
    offers.set_active(None, "pin", pin.id, False)
    assert "已结束" in _refused(buyer, add_on, pin.id, "CROSS_SELL_ENDED")


def test_an_unpaid_cross_sell_order_gives_its_use_back(buyer, cross_sell):
    anchor, add_on, pin = cross_sell
    _paid(buyer, anchor)
    held = orders.create_retail_order(buyer, add_on, 1, promo={"cross_sell": pin.id})
    orders.cancel(buyer, held.order_no)
    assert orders.create_retail_order(buyer, add_on, 1, promo={"cross_sell": pin.id}).amount_fen == 1000


def test_gift_rows_follow_the_order(buyer, make_sku, stock):
    """An order with no gift offer writes no gift row (the pricing receivers ignore what is not theirs)."""
    sku_id = make_sku()
    stock(sku_id, 1)
    order = orders.create_retail_order(buyer, sku_id, 1)
    assert _count(OrderGift) == 0 and order.discount_fen == 0


def test_refused_when_another_campaigns_discount_is_on_the_order(buyer, cross_sell):
    """One promotion per order unless campaigns are stackable: the cross-sell price after another
    non-stackable campaign's discount is refused."""
    from app.orders import signals
    from app.orders.signals import Discount

    anchor, add_on, pin = cross_sell
    _paid(buyer, anchor)
    other = make_campaign(name="别的活动")

    def coupon_then_cross_sell(checkout, **_kw):
        checkout.discounts.append(Discount("coupon", None, 100, "¥1 off", other))
        offers.price_cross_sell(checkout)

    # The other discount is on the order before ours is priced (blinker calls receivers in no fixed order, so
    # one receiver does both, in that order).
    signals.pricing.disconnect(offers.price_cross_sell)
    signals.pricing.connect(coupon_then_cross_sell, weak=False)
    try:
        assert "不能与" in _refused(buyer, add_on, pin.id, "NOT_STACKABLE")
    finally:
        signals.pricing.disconnect(coupon_then_cross_sell)
        signals.pricing.connect(offers.price_cross_sell, weak=False)
    assert _count(CrossSellUse) == 0


def test_the_cross_sell_job_is_periodic():
    from jobs import marketing
    from jobs.schedule import PERIODIC

    assert (marketing.compute_cross_sell, "maintenance", 3600) in PERIODIC
