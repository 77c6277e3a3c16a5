"""Property test (hypothesis) of points: random sequences of paid orders, refunds (a unit the supplier could not
deliver, refunded by ops), check-ins, points-mall spends, grants and expiries, for two members. Whatever the
sequence, no balance goes negative, every balance is the sum of its entries and equals what its lots have left
(each lot's entries sum to its remainder), and the money ledger stays balanced."""

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.accounts.models import User
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment import exception_queue
from app.loyalty import points, points_earning, points_mall
from app.orders import services as orders
from tests.loyalty.test_points import assert_points_balanced
from tests.support.fulfilment import assert_ledger_balanced, pay, run

MEMBERS = 2
steps = st.lists(st.tuples(st.sampled_from(["order", "order", "refund", "checkin", "spend", "grant", "expire"]),
                           st.integers(0, MEMBERS - 1)), min_size=1, max_size=14)


@pytest.fixture
def shop(ctx, make_user, make_sku, stock, make_supplier, map_sku, supplier_sandbox):
    """A stocked SKU (¥12, delivers at once), one from a supplier that always fails (¥30, refundable), and a
    points-only mall item on the stocked SKU for 40 points."""
    stocked = make_sku(price="12.00")
    stock(stocked, 40)
    failing = make_sku(price="30.00", source="supplier")
    map_sku(failing, make_supplier(), "card-10")
    supplier_sandbox.faults(error_rate=1)
    item = points_mall.save_item(None, sku_id=stocked, title="mall", points_=40, cash_fen=0)
    points.save_settings(None, earn_per_yuan=1, checkin_points=[5, 5, 10, 10, 10, 10, 20], expiry_mode="days",
                         expiry_days=3, remind_days=1)
    return {"stocked": stocked, "failing": failing, "item": item.id, "ops": make_user("ops")}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=steps)
def test_points_never_go_negative_and_always_balance(shop, make_user, sequence):
    members = [db.session.get(User, make_user()) for _ in range(MEMBERS)]
    ids = [m.id for m in members]
    clock = utcnow()
    refundable: dict[int, list[int]] = {uid: [] for uid in ids}
    for op, who in sequence:
        member = members[who]
        if op == "order":
            sku = shop["failing"] if len(refundable[member.id]) < 2 else shop["stocked"]
            order = orders.create_retail_order(member, sku, 1)
            assert pay(order) == "applied"
            if sku == shop["failing"]:
                refundable[member.id].append(order.id)
        elif op == "refund" and refundable[member.id]:
            [d] = run(refundable[member.id].pop(0))
            assert d.status == "failed"
            exception_queue.refund(shop["ops"], d.id, reason="undeliverable", confirmed=True)
        elif op == "checkin":
            clock += timedelta(days=1)
            points_earning.check_in(member.id, clock)
        elif op == "spend":
            before = points.balance(member.id)
            try:
                points_mall.buy(member, shop["item"])
            except ValidationError as e:
                db.session.rollback()
                assert e.code == "POINTS_INSUFFICIENT" and points.balance(member.id) == before
        elif op == "grant":
            points_earning.grant(shop["ops"], [member.id], 15, "property test")
        elif op == "expire":
            clock += timedelta(days=4)
            points.expire_due(clock)
        db.session.expire_all()
        assert all(points.balance(uid) >= 0 for uid in ids)
        assert_points_balanced(*ids)
    assert_ledger_balanced()
