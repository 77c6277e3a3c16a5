"""Group buys under real threads (PostgreSQL in CI): joins racing for the last seats, the expiry job run twice
and concurrently, the expiry racing the last payment. Exactly N members, nobody refused is charged, every paid
member is refunded once or delivered, and the ledger balances."""

import httpx
import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import DomainError
from app.extensions import db
from app.fulfilment.models import Delivery
from app.ledger import services as ledger
from app.marketing import groups
from app.marketing.models import Group, GroupMember
from app.notifications.models import Notification
from app.orders import services as orders
from app.orders.models import Order
from app.payments.models import Payment
from tests.support.fulfilment import assert_ledger_balanced, pay, pay_on_gateway
from tests.support.marketing_groups import make_offer, run_out_of_time
from tests.support.threads import in_threads, run_all

pytestmark = pytest.mark.committed


def setup_group(make_user, make_sku, stock, size: int, members: int) -> tuple[int, int, list[str]]:
    """A group of `size` seats with `members` of them taken (unpaid): (group id, sku id, order numbers)."""
    sku_id = make_sku(price="30.00")
    stock(sku_id, 60)
    offer_id = make_offer(sku_id, price_fen=1990, size=size)
    buyers = [db.session.get(User, make_user("consumer")) for _ in range(members)]
    first = orders.create_retail_order(buyers[0], sku_id, 1, promo={"group_buy": offer_id})
    group_id = groups.group_of_order(first).id
    numbers = [first.order_no] + [orders.create_retail_order(b, sku_id, 1, promo={"group": group_id}).order_no
                                  for b in buyers[1:]]
    return group_id, sku_id, numbers


def join(buyer_id: int, sku_id: int, group_id: int):
    try:
        order = orders.create_retail_order(db.session.get(User, buyer_id), sku_id, 1, promo={"group": group_id})
    except DomainError as e:
        return e.code, None
    return "joined", order.order_no


def pay_no(order_no: str) -> str:
    return pay(db.session.scalars(sa.select(Order).where(Order.order_no == order_no)).one())


def test_fifty_joins_for_the_last_three_seats(app, make_user, make_sku, stock):
    with app.app_context():
        group_id, sku_id, first = setup_group(make_user, make_sku, stock, size=5, members=2)
        racers = [make_user("consumer") for _ in range(50)]
    results = run_all(app, join, [(b, sku_id, group_id) for b in racers])
    assert sorted({code for code, _ in results}) == ["GROUP_FULL", "joined"]
    joined = [no for code, no in results if code == "joined"]
    assert len(joined) == 3
    with app.app_context():
        seats = db.session.execute(sa.select(GroupMember.seat, GroupMember.buyer_id)
                                   .where(GroupMember.group_id == group_id)).all()
        assert sorted(s for s, _ in seats) == [1, 2, 3, 4, 5]
        # the 47 refused have no order and no payment: nothing to pay, nothing charged
        refused = [b for b, (code, _) in zip(racers, results, strict=True) if code != "joined"]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)
                                 .where(Order.buyer_id.in_(refused))) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 5

    # every member pays at once: the last payment fills the group and every member's order is delivered
    assert set(run_all(app, pay_no, [(no,) for no in first + joined])) == {"applied"}
    with app.app_context():
        assert db.session.get(Group, group_id).status == "filled"
        assert {o.status for o in db.session.scalars(sa.select(Order).where(Order.sku_id == sku_id))} == \
            {"delivered"}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)
                                 .where(Delivery.status == "delivered")) == 5
        assert ledger.balance("6001") == -5 * 3000 and ledger.balance("6003") == 5 * 1010
        assert ledger.balance("1122") == 5 * 1990
        assert_ledger_balanced()


def test_a_group_that_expires_refunds_everyone_exactly_once(app, make_user, make_sku, stock, paygate):
    httpx.post(f"{paygate}/_sandbox/reset", timeout=5).raise_for_status()
    with app.app_context():
        group_id, sku_id, numbers = setup_group(make_user, make_sku, stock, size=5, members=5)
        paid = numbers[:4]
        for no in paid:
            assert pay_on_gateway(db.session.scalars(sa.select(Order).where(Order.order_no == no)).one(),
                                  paygate) == "applied"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0  # held
        run_out_of_time(group_id)

    # the job twice, concurrently, then once more
    assert sorted(in_threads(app, 4, [None] * 4, lambda _: groups.expire_groups())) == [0, 0, 0, 1]
    with app.app_context():
        assert groups.expire_groups() == 0
    # the refund outbox swept by three workers at once
    from jobs import payments as payment_jobs

    assert sum(in_threads(app, 3, [None] * 3, lambda _: payment_jobs.process_refunds())) == 4
    with app.app_context():
        assert db.session.get(Group, group_id).status == "failed"
        status = dict(db.session.execute(sa.select(Order.order_no, Order.status)
                                         .where(Order.order_no.in_(numbers))).all())
        assert [status[no] for no in numbers] == ["refunded"] * 4 + ["cancelled"]
        assert {p.status for p in db.session.scalars(sa.select(Payment).where(Payment.out_trade_no.in_(paid)))} \
            == {"refunded"}
        notes = db.session.scalars(sa.select(Notification.params).where(Notification.kind == "group_failed")).all()
        assert sorted(n["order_no"] for n in notes) == sorted(paid)
        assert ledger.balance("1122") == 0 and ledger.balance("2203") == 0 and ledger.balance("2241") == 0
        assert_ledger_balanced()
    trades = {t["out_trade_no"]: t for t in httpx.get(f"{paygate}/_sandbox/trades", timeout=5).json()}
    assert {no: (trades[no]["status"], trades[no]["refunds"]) for no in paid} == \
        {no: ("REFUNDED", 1) for no in paid}


@pytest.mark.parametrize("round_", range(6))
def test_the_expiry_racing_the_last_payment_ends_one_way_for_everyone(app, make_user, make_sku, stock, round_):
    with app.app_context():
        group_id, sku_id, numbers = setup_group(make_user, make_sku, stock, size=3, members=3)
        for no in numbers[:2]:
            assert pay_no(no) == "applied"
        run_out_of_time(group_id)
    tasks = [lambda: groups.expire_groups(), lambda: pay_no(numbers[2])]
    _, paid = run_all(app, lambda f: f(), [(t,) for t in tasks])
    assert paid == "applied"  # never lost as a "duplicate" when the expiry closed the order meanwhile
    with app.app_context():
        groups.expire_groups()  # a run that backed off from the landing payment
        group = db.session.get(Group, group_id)
        status = {o.status for o in db.session.scalars(sa.select(Order).where(Order.order_no.in_(numbers)))}
        if group.status == "filled":
            assert status == {"delivered"}
        else:
            assert group.status == "failed" and status == {"refunded"}
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0
        assert_ledger_balanced()
