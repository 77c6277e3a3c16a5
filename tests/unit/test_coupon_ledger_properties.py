"""Property test (hypothesis): random coupons (amount off, threshold, percentage with a cap) used on random
retail purchases of a card code and of a joint membership, each then paid or cancelled. Whatever the sequence,
every transaction balances, sales discounts (6003) hold exactly the discounts of the paid orders, revenue
(6001) their list value, the gateway receivable what was paid; a cancelled order's coupon is available again,
a refused coupon changes nothing."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.accounts.models import User
from app.core.errors import ValidationError
from app.extensions import db
from app.ledger import services as ledger
from app.marketing import coupons
from app.marketing.models import Coupon
from app.orders import services as orders
from tests.support.fulfilment import assert_ledger_balanced, pay
from tests.support.marketing import make_campaign, make_template

RUNS = itertools.count(1)
steps = st.lists(st.tuples(st.sampled_from(["amount", "threshold", "percent"]), st.integers(1, 120_00),
                           st.integers(1, 3), st.sampled_from(["card", "bundle"]), st.booleans()),
                 min_size=1, max_size=6)


@pytest.fixture
def goods(ctx, make_sku, stock):
    card = make_sku(price="19.90")
    a, b = make_sku(price="10.00"), make_sku(price="30.00")
    bundle = make_sku(price="36.00", type_="bundle", components=[(a, 1), (b, 1)])
    for sku_id in (card, a, b):
        stock(sku_id, 400)
    return {"card": card, "bundle": bundle}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=steps)
def test_coupons_keep_the_books_straight(ctx, make_user, goods, sequence):
    next(RUNS)
    buyer = db.session.get(User, make_user("consumer"))
    campaign = make_campaign()
    before = {code: ledger.balance(code) for code in ("6001", "6003", "1122")}
    model = {"6001": 0, "6003": 0, "1122": 0}
    for kind, amount, quantity, what, paid in sequence:
        t = make_template(campaign, kind=kind, amount=amount if kind != "percent" else 0,
                          threshold=amount + 1 if kind == "threshold" else 0,
                          off_bp=amount % 9999 + 1 if kind == "percent" else 0, cap=amount if kind == "percent" else 0)
        c = coupons.claim(buyer, t)
        try:
            order = orders.create_retail_order(buyer, goods[what], quantity, promo={"coupon": c.id})
        except ValidationError as e:
            assert e.code == "COUPON_THRESHOLD"
            assert db.session.get(Coupon, c.id).status == "available"
            continue
        assert order.discount_fen + order.amount_fen == order.unit_price_fen * quantity and order.amount_fen >= 1
        if paid:
            assert pay(order) == "applied"
            model["6001"] -= order.unit_price_fen * quantity
            model["6003"] += order.discount_fen
            model["1122"] += order.amount_fen
        else:
            orders.cancel(buyer, order.order_no)
            db.session.refresh(c)
            assert (c.status, c.order_id) == ("available", None)
    assert {code: ledger.balance(code) - before[code] for code in model} == model
    assert_ledger_balanced()
