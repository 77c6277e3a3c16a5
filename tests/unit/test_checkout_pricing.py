"""The pricing hook of retail checkout (orders.signals): what a receiver takes off is what the buyer pays, what
the gateway is asked for, what each unit is refunded, and it is booked to sales discounts when revenue is
recognised; a receiver that refuses leaves nothing behind; closing an unpaid order announces it."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.catalog import planning
from app.catalog.models import Sku
from app.core.errors import ValidationError
from app.extensions import db
from app.fulfilment.models import Delivery
from app.inventory import services as inventory
from app.ledger import services as ledger
from app.marketing import promotions
from app.orders import services as orders
from app.orders import signals
from app.orders.models import Order
from app.payments import services as payments
from tests.support.fulfilment import assert_ledger_balanced, pay


@pytest.fixture
def buyer(ctx, make_user):
    return db.session.get(User, make_user("consumer"))


@pytest.fixture
def receiver():
    """Connect a pricing receiver for one test (the app's own receivers stay connected)."""
    connected = []

    def connect(fn):
        signals.pricing.connect(fn, weak=False)
        connected.append(fn)
        return fn

    yield connect
    for fn in connected:
        signals.pricing.disconnect(fn)


def test_a_discount_lowers_what_is_paid_and_is_booked_apart(buyer, make_sku, stock, receiver):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 3)

    @receiver
    def five_off(checkout, **_):
        if checkout.promo.get("test_promo") == "FIVE":
            checkout.discounts.append(signals.Discount("coupon", 42, 500, "¥5 off"))

    order = orders.create_retail_order(buyer, sku_id, 3, promo={"test_promo": "FIVE"})
    assert (order.unit_price_fen, order.discount_fen, order.amount_fen) == (3000, 500, 8500)
    assert payments.payment_for(order).amount_fen == 8500
    assert [(p.source, p.ref_id, p.discount_fen, p.label) for p in promotions.of_order(order.id)] == \
        [("coupon", 42, 500, "¥5 off")]
    assert pay(order) == "applied"
    units = db.session.scalars(sa.select(Delivery).where(Delivery.order_id == order.id)).all()
    assert sum(d.amount_fen for d in units) == 8500 and sum(d.discount_fen for d in units) == 500
    assert sorted(d.discount_fen for d in units) == [166, 167, 167]
    assert ledger.balance("6001") == -9000  # revenue at list value...
    assert ledger.balance("6003") == 500  # ...less what marketing took off: net revenue is what was paid
    assert ledger.balance("1122") == 8500
    assert_ledger_balanced()


def test_without_a_promo_the_list_price_is_paid(buyer, make_sku, stock, receiver):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 1)
    receiver(lambda checkout, **_: None)
    order = orders.create_retail_order(buyer, sku_id, 1)
    assert (order.discount_fen, order.amount_fen) == (0, 3000)


def test_the_buyer_pays_at_least_one_fen(buyer, make_sku, stock, receiver):
    sku_id = make_sku(price="3.00")
    stock(sku_id, 1)
    receiver(lambda checkout, **_: checkout.discounts.append(signals.Discount("coupon", None, 1000)))
    order = orders.create_retail_order(buyer, sku_id, 1)
    assert (order.discount_fen, order.amount_fen) == (299, 1)


def test_a_refusing_receiver_leaves_nothing_behind(buyer, make_sku, stock, receiver):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 2)

    @receiver
    def refuse(checkout, **_):
        raise ValidationError("This coupon has expired.", code="COUPON_EXPIRED")

    with pytest.raises(ValidationError, match="expired"):
        orders.create_retail_order(buyer, sku_id, 1, promo={"test_promo": 1})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0
    assert inventory.available_counts([sku_id]) == {sku_id: 2}


def test_closing_an_unpaid_order_is_announced(buyer, make_sku, stock):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 1)
    order = orders.create_retail_order(buyer, sku_id, 1)
    heard = []

    def closed(order, status, **_):
        heard.append((order.id, status))

    signals.order_closed.connect(closed)
    try:
        orders.cancel(buyer, order.order_no)
    finally:
        signals.order_closed.disconnect(closed)
    assert heard == [(order.id, "cancelled")]


def test_units_share_the_discount_by_list_value(ctx, make_sku):
    a, b = make_sku(price="10.00"), make_sku(price="30.00")
    bundle = make_sku(price="36.00", type_="bundle", components=[(a, 1), (b, 1)])
    units = planning.units(db.session.get(Sku, bundle), 2, 3600, discount_fen=1200)
    assert sum(u.amount_fen for u in units) == 7200 - 1200
    assert sum(u.discount_fen for u in units) == 1200
    assert [u.amount_fen + u.discount_fen for u in units] == [900, 2700, 900, 2700]
    assert [u.discount_fen for u in units] == [150, 450, 150, 450]
