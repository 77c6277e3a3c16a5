"""A subscription's charge racing the member's cancel, on PostgreSQL with real threads: each pair settles
one way. Either the cancel came first (no charge at the gateway, no order), or the charge did (one charge, the
unit delivered; the cancel refused while it was in flight, or taking effect after it)."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import ValidationError
from app.extensions import db
from app.loyalty import subscription_charges as charges
from app.loyalty import subscriptions
from app.loyalty.models.subscriptions import Subscription, SubscriptionCharge
from app.orders.models import Order
from tests.loyalty.subs_helpers import gateway_trades, subscribed
from tests.support.fulfilment import assert_ledger_balanced
from tests.support.payments import Gate
from tests.support.threads import run_all

pytestmark = [pytest.mark.committed, pytest.mark.pg]
PAIRS = 8


@pytest.fixture
def pg(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the race is proved on PostgreSQL (set DATABASE_URL)")


def test_charge_racing_cancel_settles_one_way(pg, app, paygate, make_sku, stock, make_user):
    Gate(paygate).reset()
    sku_id = make_sku(price="30.00")
    stock(sku_id, PAIRS)
    with app.app_context():
        actor = db.session.get(User, make_user("ops"))
        plan_id = subscriptions.create_plan(actor, sku_id=sku_id, name="连续包月", period_months=1,
                                            price_fen=1990).id
        subs = [(subscribed(make_user(), plan_id, paygate).id) for _ in range(PAIRS)]
        owners = dict(db.session.execute(sa.select(Subscription.id, Subscription.user_id)).all())

    def charge(sub_id):
        return charges.charge(sub_id)

    def cancel(sub_id):
        try:
            subscriptions.cancel(db.session.get(User, owners[sub_id]), sub_id)
            return "cancelled"
        except ValidationError as e:
            return e.code

    seen = set()
    for sub_id in subs:
        charged, cancelled = run_all(app, lambda fn, s: fn(s), [(charge, sub_id), (cancel, sub_id)])
        seen.add((charged, cancelled))
        with app.app_context():
            sub = db.session.get(Subscription, sub_id)
            rows = db.session.scalars(sa.select(SubscriptionCharge)
                                      .where(SubscriptionCharge.subscription_id == sub_id)).all()
            trades = [t for t in gateway_trades(paygate, sub) if t["status"] == "SUCCESS"]
            if charged == "charged":
                assert cancelled in ("cancelled", "PLAN_CHARGING")
                assert len(rows) == 1 and rows[0].status == "succeeded" and len(trades) == 1
                assert db.session.get(Order, rows[0].order_id).status in ("paid", "delivered")
                assert sub.periods_paid == 1
                assert sub.status == ("cancelled" if cancelled == "cancelled" else "active")
            else:
                assert (charged, cancelled) == ("cancelled", "cancelled")
                assert rows == [] and trades == [] and sub.status == "cancelled" and sub.periods_paid == 0
            assert sub.status != "charging"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)) == \
            db.session.scalar(sa.select(sa.func.count()).select_from(SubscriptionCharge))
        assert_ledger_balanced()
    assert seen  # which orders the threads took is up to the scheduler; each one settled one way
