"""Real threads against the real database (PostgreSQL in CI): one coupon in twenty tabs is used by one order;
a rush of claims never issues more than the total nor more than a buyer's limit."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import ValidationError
from app.extensions import db
from app.ledger import services as ledger
from app.marketing import coupons
from app.marketing.models import Coupon
from app.orders import services as orders
from app.orders.models import Order
from tests.support.fulfilment import assert_ledger_balanced, pay
from tests.support.marketing import make_template
from tests.support.threads import run_all

pytestmark = pytest.mark.committed


def checkout(buyer_id: int, sku_id: int, coupon_id: int):
    try:
        order = orders.create_retail_order(db.session.get(User, buyer_id), sku_id, 1, promo={"coupon": coupon_id})
    except ValidationError as e:
        return e.code
    return order.order_no


def test_twenty_tabs_one_coupon_one_order_gets_it(app, make_user, make_sku, stock):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 20)
    buyer = make_user("consumer")
    with app.app_context():
        coupon_id = coupons.claim(db.session.get(User, buyer), make_template(amount=800)).id
    results = run_all(app, checkout, [(buyer, sku_id, coupon_id)] * 20)
    winners = [r for r in results if r.startswith("Q")]
    assert len(winners) == 1, results
    assert set(results) - set(winners) <= {"COUPON_USED", "TOO_MANY_PENDING"}
    with app.app_context():
        [order] = db.session.scalars(sa.select(Order)).all()  # the refused tabs left nothing behind
        assert (order.order_no, order.discount_fen, order.amount_fen) == (winners[0], 800, 2200)
        c = db.session.get(Coupon, coupon_id)
        assert (c.status, c.order_id) == ("used", order.id)
        assert pay(order) == "applied"
        assert ledger.balance("6003") == 800 and ledger.balance("6001") == -3000
        assert_ledger_balanced()


def claim(user_id: int, template_id: int):
    try:
        return coupons.claim(db.session.get(User, user_id), template_id).serial
    except ValidationError as e:
        return e.code


def test_a_rush_of_claims_never_passes_the_total_or_a_buyers_limit(app, make_user):
    with app.app_context():
        template_id = make_template(total=6, per_user=2)
    users = [make_user("consumer") for _ in range(8)]
    # every buyer claims from two tabs, the first two from four
    tasks = [(u, template_id) for u in users for _ in range(2)] + [(u, template_id) for u in users[:2]] * 2
    results = run_all(app, claim, tasks)
    serials = [r for r in results if isinstance(r, int)]
    assert sorted(serials) == [1, 2, 3, 4, 5, 6]
    assert set(results) - set(serials) <= {"COUPON_GONE", "COUPON_LIMIT", "COUPON_BUSY"}
    with app.app_context():
        held = db.session.execute(sa.select(Coupon.holder_id, sa.func.count()).where(Coupon.holder_id.is_not(None))
                                  .group_by(Coupon.holder_id)).all()
        assert sum(n for _, n in held) == 6 and max(n for _, n in held) <= 2
