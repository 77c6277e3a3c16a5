"""Real threads against the real database (PostgreSQL in CI): nobody gets a code twice, money balances."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import InsufficientStock
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment.models import Entitlement
from app.inventory.models import Code
from app.ledger.models import JournalEntry, Posting
from app.orders import services as orders
from app.orders.models import Order
from app.payments import services as payments
from tests.support.payments import notice
from tests.support.threads import run_all

pytestmark = pytest.mark.committed


def buy_and_pay(buyer_id: int, sku_id: int, pay: bool):
    buyer = db.session.get(User, buyer_id)
    try:
        order = orders.create_retail_order(buyer, sku_id, 1)
    except InsufficientStock:
        return "refused", None
    if not pay:
        return "abandoned", order.order_no
    form = notice(order.order_no, order.amount_fen)
    # The gateway's notice arrives twice, as it does in real life.
    outcomes = {payments.handle_notification(dict(form)), payments.handle_notification(dict(form))}
    return ("paid" if "applied" in outcomes else "unpaid"), order.order_no


def assert_invariants(sku_id: int, delivered_expected: int):
    with db.session.no_autoflush:
        ents = db.session.scalars(sa.select(Entitlement).where(Entitlement.sku_id == sku_id)).all()
        assert len(ents) == delivered_expected
        assert len({e.code_id for e in ents}) == delivered_expected  # distinct codes
        delivered_codes = db.session.scalar(sa.select(sa.func.count()).select_from(Code)
                                            .where(Code.sku_id == sku_id, Code.status == "delivered"))
        assert delivered_codes == delivered_expected
        # every delivered code belongs to exactly the order its entitlement came from
        mismatched = db.session.scalar(
            sa.select(sa.func.count()).select_from(Entitlement).join(Code, Code.id == Entitlement.code_id)
            .where(Code.order_id != Entitlement.order_id))
        assert mismatched == 0
        assert db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Posting.amount_fen), 0))) == 0
        assert db.session.scalars(sa.select(JournalEntry.id).join(Posting).group_by(JournalEntry.id)
                                  .having(sa.func.sum(Posting.amount_fen) != 0)).all() == []


def test_fifty_buyers_race_for_the_last_twenty_codes(app, make_user, make_sku, stock):
    sku_id = make_sku(price="19.90")
    stock(sku_id, 20)
    buyers = [make_user("consumer") for _ in range(50)]
    results = run_all(app, buy_and_pay, [(b, sku_id, True) for b in buyers])
    outcomes = [r[0] for r in results]
    assert outcomes.count("paid") == 20
    assert outcomes.count("refused") == 30
    with app.app_context():
        paid = db.session.scalars(sa.select(Order).where(Order.sku_id == sku_id)).all()
        assert len(paid) == 20 and {o.status for o in paid} == {"delivered"}
        assert_invariants(sku_id, 20)
        from app.ledger import services as ledger

        assert ledger.balance("6001") == -20 * 1990


def test_abandoned_orders_expire_while_others_race_and_late_payers_pay(app, make_user, make_sku, stock):
    """Winners who never pay release their codes to the next wave; a payment racing the expiry job is
    either honoured (stock re-reserved) or refunded, never both, never a code twice."""
    sku_id = make_sku(price="9.90")
    stock(sku_id, 20)
    first = [make_user("consumer") for _ in range(30)]
    wave1 = run_all(app, buy_and_pay, [(b, sku_id, i % 4 != 0) for i, b in enumerate(first)])
    abandoned = [no for status, no in wave1 if status == "abandoned"]
    paid1 = sum(1 for status, _ in wave1 if status == "paid")
    assert paid1 + len(abandoned) == 20 and abandoned

    with app.app_context():
        db.session.execute(sa.update(Order).where(Order.order_no.in_(abandoned))
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        amounts = dict(db.session.execute(sa.select(Order.order_no, Order.amount_fen)
                                          .where(Order.order_no.in_(abandoned))).all())

    second = [make_user("consumer") for _ in range(15)]
    late_payer = abandoned[0]

    def expire():
        return "expired", orders.expire_unpaid()

    def late_pay():
        return payments.handle_notification(notice(late_payer, amounts[late_payer])), late_payer

    tasks = [(expire,), (late_pay,)] + [(lambda b=b: buy_and_pay(b, sku_id, True),) for b in second]
    run_all(app, lambda f: f(), tasks)
    with app.app_context():
        orders.expire_unpaid()  # whatever the racing run had not reached
        statuses = dict(db.session.execute(sa.select(Order.order_no, Order.status)
                                           .where(Order.sku_id == sku_id)).all())
        delivered = sum(1 for s in statuses.values() if s == "delivered")
        assert delivered <= 20
        # nothing is left reserved by a closed order, and no code is both available and delivered
        leaked = db.session.scalar(sa.select(sa.func.count()).select_from(Code).join(Order, Order.id == Code.order_id)
                                   .where(Code.status == "reserved", Order.status != "pending_payment"))
        assert leaked == 0
        available = db.session.scalar(sa.select(sa.func.count()).select_from(Code)
                                      .where(Code.sku_id == sku_id, Code.status == "available"))
        pending = db.session.scalar(sa.select(sa.func.count()).select_from(Code)
                                    .where(Code.sku_id == sku_id, Code.status == "reserved"))
        assert delivered + available + pending == 20
        assert statuses[late_payer] in ("delivered", "expired")
        from app.payments.models import Payment

        late_payment = db.session.scalars(sa.select(Payment).where(Payment.out_trade_no == late_payer)).one()
        if statuses[late_payer] == "delivered":
            assert late_payment.status == "succeeded"
        else:
            assert late_payment.status == "refund_pending"  # the refund job takes it from here
        assert_invariants(sku_id, delivered)
