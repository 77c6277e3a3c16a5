"""Review decisions under real threads on PostgreSQL: two reviewers deciding one held order at once (exactly one
wins, the other is told it was decided), and a payment notice racing an approval or a rejection (the order ends
delivered after an approval, refunded after a rejection, never both, never neither). The ledger balances."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import Conflict
from app.extensions import db
from app.fulfilment import reviews
from app.fulfilment.models import Delivery
from app.orders import services as orders
from app.orders.models import Order, OrderReview
from app.payments import services as payments
from tests.support.fulfilment import assert_ledger_balanced, pay
from tests.support.reviews import hold_rule
from tests.support.threads import run_all

pytestmark = [pytest.mark.committed, pytest.mark.pg]
ORDERS = 6


@pytest.fixture
def pg(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the races are proved on PostgreSQL (set DATABASE_URL)")


def held_orders(make_user, make_sku, stock, n: int) -> tuple[int, int, list[tuple[int, str]]]:
    """Two ops users and `n` held orders of 2 units: (ops a, ops b, [(review id, order no)])."""
    a, b = make_user("ops"), make_user("ops")
    hold_rule(db.session.get(User, a))
    sku_id = make_sku(price="30.00")
    stock(sku_id, 2 * n)
    held = []
    for _ in range(n):
        order = orders.create_retail_order(db.session.get(User, make_user()), sku_id, 2)
        held.append((db.session.scalars(sa.select(OrderReview.id).where(OrderReview.order_id == order.id)).one(),
                     order.order_no))
    return a, b, held


def _order(order_no: str) -> Order:
    return db.session.scalars(sa.select(Order).where(Order.order_no == order_no)).one()


def decide(what: str, actor_id: int, review_id: int) -> str:
    actor = db.session.get(User, actor_id)
    try:
        if what == "approve":
            reviews.approve(actor, review_id, "race")
        else:
            reviews.reject(actor, review_id, "race", freeze=True)
    except Conflict as e:
        assert e.code == "REVIEW_DECIDED" and "已由其他审核人" in str(e.message)
        return "decided"
    return what


def pay_no(order_no: str) -> str:
    return pay(_order(order_no))


def outcome(order_no: str) -> tuple[str, int, str]:
    order = _order(order_no)
    units = db.session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(Delivery.order_id == order.id))
    return order.status, units, payments.payment_for(order).status


def test_two_reviewers_deciding_at_once_one_wins(app, pg, make_user, make_sku, stock):
    with app.app_context():
        a, b, held = held_orders(make_user, make_sku, stock, ORDERS)
        for _, order_no in held:
            assert pay_no(order_no) == "applied"
    tasks = [(("approve", a, rid) if i % 2 else ("reject", b, rid)) for rid, _ in held for i in range(2)]
    results = run_all(app, decide, tasks)
    with app.app_context():
        for k, (review_id, order_no) in enumerate(held):
            pair = results[2 * k:2 * k + 2]
            assert sorted(pair) in (["approve", "decided"], ["decided", "reject"])
            review = db.session.get(OrderReview, review_id)
            status, units, paid = outcome(order_no)
            if "approve" in pair:
                assert (review.status, status, units, paid) == ("approved", "delivered", 2, "succeeded")
            else:
                assert (review.status, status, units, paid) == ("rejected", "refunded", 0, "refund_pending")
                assert review.froze_account
        assert_ledger_balanced()


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_payment_racing_a_decision_ends_consistent(app, pg, make_user, make_sku, stock, decision):
    with app.app_context():
        a, _, held = held_orders(make_user, make_sku, stock, ORDERS)
    tasks = [task for rid, order_no in held for task in ((pay_no, (order_no,)), (decide, (decision, a, rid)))]
    results = run_all(app, lambda fn, args: fn(*args), tasks)
    assert set(results[0::2]) == {"applied"} and set(results[1::2]) == {decision}
    with app.app_context():
        for _, order_no in held:
            if decision == "approve":
                assert outcome(order_no) == ("delivered", 2, "succeeded")
            else:
                assert outcome(order_no) == ("refunded", 0, "refund_pending")
        assert_ledger_balanced()
