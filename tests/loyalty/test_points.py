"""Points (app/loyalty/points*.py): the ledger (entries on lots, FIFO spend, give-back, reversal never below zero),
earning on paid orders and its proportional reversal on refund, the daily check-in, grants, expiry and its
reminders; every refusal says why and changes nothing."""

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.core.models import AuditLog
from app.extensions import db
from app.fulfilment import exception_queue
from app.ledger import periods
from app.loyalty import points, points_earning
from app.loyalty.models.points import CheckIn, PointsEntry, PointsLot, PointsMovement
from app.marketing import segments
from app.notifications.models import Notification
from app.orders import services as orders
from app.orders.models import Order
from tests.support.fulfilment import assert_ledger_balanced, pay, run


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def assert_points_balanced(*user_ids: int) -> None:
    """Each member's balance (sum of entries) equals what their lots have left, and is never negative."""
    for uid in user_ids:
        lots = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(PointsLot.remaining), 0))
                                 .where(PointsLot.user_id == uid))
        assert points.balance(uid) == lots >= 0
    bad = db.session.scalars(
        sa.select(PointsLot.id).outerjoin(PointsEntry, PointsEntry.lot_id == PointsLot.id)
        .group_by(PointsLot.id, PointsLot.remaining)
        .having(sa.func.coalesce(sa.func.sum(PointsEntry.amount), 0) != PointsLot.remaining)).all()
    assert bad == []


def _settings(**changes) -> None:
    s = points.settings()
    now = {k: getattr(s, k) for k in ("earn_per_yuan", "checkin_points", "expiry_mode", "expiry_days", "remind_days")}
    points.save_settings(None, **{**now, **changes})


def test_earn_spend_fifo_and_idempotent(ctx, make_user):
    uid = make_user()
    t0 = utcnow()
    points.earn(uid, 100, kind="grant", key="t:a", now=t0)
    points.earn(uid, 50, kind="grant", key="t:b", now=t0 + timedelta(seconds=1))
    assert points.earn(uid, 100, kind="grant", key="t:a") is None  # rerun: nothing
    assert points.spend(uid, 120, key="t:s", now=t0 + timedelta(seconds=2))
    assert points.spend(uid, 120, key="t:s") is False
    db.session.commit()
    lots = db.session.scalars(sa.select(PointsLot).where(PointsLot.user_id == uid).order_by(PointsLot.id)).all()
    assert [lot.remaining for lot in lots] == [0, 30]  # the oldest lot went first
    assert points.balance(uid) == 30
    assert points.give_back("t:s") == 120 and points.give_back("t:s") == 0
    assert [lot.remaining for lot in lots] == [100, 50] and points.balance(uid) == 150
    assert_points_balanced(uid)


def test_not_enough_points_is_refused_and_nothing_changes(ctx, make_user):
    uid = make_user()
    points.earn(uid, 10, kind="grant", key="t:a")
    db.session.commit()
    before = (_count(PointsEntry), _count(PointsMovement))
    with pytest.raises(ValidationError) as e:
        points.spend(uid, 11, key="t:s")
    assert e.value.code == "POINTS_INSUFFICIENT"
    assert str(e.value.message) == "积分不足：需要 11，可用 10。"
    db.session.rollback()
    assert (_count(PointsEntry), _count(PointsMovement)) == before and points.balance(uid) == 10


@pytest.mark.parametrize("amount", [0, -5, 1.5, True, None])
def test_points_must_be_positive_whole_numbers(ctx, make_user, amount):
    uid = make_user()
    with pytest.raises(ValidationError) as e:
        points.earn(uid, amount, kind="grant", key="t:x")
    assert e.value.code == "POINTS_INVALID"
    assert _count(PointsEntry) == 0


def test_expiry_takes_what_is_left_once_and_is_idempotent(ctx, make_user):
    uid = make_user()
    _settings(expiry_mode="days", expiry_days=10)
    t0 = utcnow()
    points.earn(uid, 100, kind="grant", key="t:a", now=t0)
    points.spend(uid, 30, key="t:s", now=t0)
    db.session.commit()
    assert points.expire_due(t0 + timedelta(days=9)) == 0
    assert points.expire_due(t0 + timedelta(days=10)) == 70
    assert points.expire_due(t0 + timedelta(days=10)) == 0  # rerun: nothing
    assert points.balance(uid) == 0
    with pytest.raises(ValidationError):  # a spend after the end finds nothing
        points.spend(uid, 1, key="t:late", now=t0 + timedelta(days=10))
    db.session.rollback()
    assert_points_balanced(uid)


def test_year_end_expiry_is_the_end_of_the_next_local_year(ctx):
    # earned 2026-12-31 20:00 Shanghai (12:00 UTC): still 2026 there, so it ends 2028-01-01 00:00 Shanghai
    assert points.expires_at(datetime(2026, 12, 31, 12, 0)) == datetime(2027, 12, 31, 16, 0)
    # earned 2027-01-01 02:00 Shanghai (2026-12-31 18:00 UTC): a 2027 point, ending a year later
    assert points.expires_at(datetime(2026, 12, 31, 18, 0)) == datetime(2028, 12, 31, 16, 0)


def test_reminders_go_once_per_lot(ctx, make_user):
    uid = make_user()
    _settings(expiry_mode="days", expiry_days=40, remind_days=30)
    t0 = utcnow()
    points.earn(uid, 80, kind="grant", key="t:a", now=t0)
    db.session.commit()
    assert points_earning.remind_expiring(t0 + timedelta(days=5)) == 0  # not yet within 30 days
    assert points_earning.remind_expiring(t0 + timedelta(days=11)) == 1
    assert points_earning.remind_expiring(t0 + timedelta(days=12)) == 0  # rerun: nobody hears twice
    n = db.session.scalars(sa.select(Notification).where(Notification.user_id == uid)).one()
    assert n.kind == "points_expiring" and n.params["points"] == 80
    assert points.expiring(uid, t0 + timedelta(days=11)) == (80, t0 + timedelta(days=40))


def test_checkin_streak_and_once_per_local_day(ctx, make_user):
    uid = make_user()
    _settings(checkin_points=[1, 2, 3, 4, 5, 6, 10])
    day1 = periods.to_utc(datetime(2026, 3, 1, 8, 0))
    assert points_earning.check_in(uid, day1).points == 1
    before = (_count(CheckIn), points.balance(uid))
    with pytest.raises(ValidationError) as e:  # later the same local day (23:59 Shanghai)
        points_earning.check_in(uid, periods.to_utc(datetime(2026, 3, 1, 23, 59)))
    assert e.value.code == "ALREADY_CHECKED_IN" and str(e.value.message) == "今天已经签到过了。"
    assert (_count(CheckIn), points.balance(uid)) == before
    for n in range(2, 10):
        c = points_earning.check_in(uid, day1 + timedelta(days=n - 1))
        assert (c.streak, c.points) == (n, min(n, 7) if n < 7 else 10)
    c = points_earning.check_in(uid, day1 + timedelta(days=11))  # a day missed: the streak starts again
    assert (c.streak, c.points) == (1, 1)
    assert points.balance(uid) == 1 + 2 + 3 + 4 + 5 + 6 + 10 + 10 + 10 + 1
    assert_points_balanced(uid)


def test_a_double_click_at_the_database_checks_in_once(ctx, make_user):
    uid = make_user()
    now = utcnow()
    db.session.add(CheckIn(user_id=uid, day=periods.local_day(now), streak=1, points=1))
    db.session.commit()
    # the state read before the other click committed: the unique key refuses the second row
    with pytest.raises(ValidationError) as e:
        _insert_again(uid, now)
    assert e.value.code == "ALREADY_CHECKED_IN"
    assert _count(CheckIn) == 1 and points.balance(uid) == 0


def _insert_again(uid, now):
    from unittest import mock
    with mock.patch.object(points_earning, "checkin_state", return_value={"today": None, "streak": 1, "points": 1}):
        points_earning.check_in(uid, now)


def test_grant_needs_points_and_a_reason_and_is_audited(ctx, make_user):
    ops, a, b = make_user("ops"), make_user(), make_user()
    for amount, reason, code in ((0, "x", "POINTS_INVALID"), (10, "  ", "REASON_REQUIRED")):
        with pytest.raises(ValidationError) as e:
            points_earning.grant(ops, [a], amount, reason)
        assert e.value.code == code
    assert _count(PointsEntry) == 0
    assert points_earning.grant(ops, [a, b, a], 25, "Double 11 reward") == 2
    assert points.balances([a, b]) == {a: 25, b: 25}
    logs = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "points.grant")).all()
    assert sorted(x.target_id for x in logs) == sorted([a, b]) and logs[0].detail["reason"] == "Double 11 reward"


def test_segment_rule_points_at_least(ctx, make_user):
    a, b = make_user(), make_user()
    points.earn(a, 500, kind="grant", key="t:a")
    points.earn(b, 20, kind="grant", key="t:b")
    db.session.commit()
    rules = segments.clean_rules({"points_at_least": {"points": 100}})
    got = set(db.session.scalars(sa.select(User.id).where(User.id.in_([a, b]), segments.condition(rules))))
    assert got == {a}


def test_paid_order_earns_and_a_refund_takes_back_in_proportion(ctx, make_user, make_sku, make_supplier,
                                                                map_sku, supplier_sandbox):
    """Paid ¥30 at 1 point per ¥1: 30 points. Its unit fails and ops refund it: the 30 come back out; had the
    buyer spent 20 of them meanwhile, 10 are taken and the shortfall of 20 is recorded."""
    uid = make_user()
    buyer = db.session.get(User, uid)
    sku_id = make_sku(price="30.00", source="supplier")
    map_sku(sku_id, make_supplier(), "card-10")
    supplier_sandbox.faults(error_rate=1)
    order = orders.create_retail_order(buyer, sku_id, 1)
    assert pay(order) == "applied"
    assert points.balance(uid) == 30
    points.spend(uid, 20, key="t:spent")
    db.session.commit()
    [d] = run(order.id)
    assert d.status == "failed"
    exception_queue.refund(make_user("ops"), d.id, reason="no stock anywhere", confirmed=True)
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "refunded"
    assert points.balance(uid) == 0
    mv = db.session.scalars(sa.select(PointsMovement).where(PointsMovement.kind == "reverse")).one()
    assert (mv.amount, mv.shortfall) == (10, 20)
    from app.fulfilment import signals
    signals.order_settled.send(db.session.get(Order, order.id))  # announced again: nothing more
    assert _count(PointsMovement) == 3
    assert_points_balanced(uid)
    assert_ledger_balanced()


def test_the_periodic_jobs_are_listed_and_run_inline(ctx, make_user):
    from jobs import loyalty_points
    from jobs.schedule import PERIODIC

    listed = {f for f, _, _ in PERIODIC}
    assert {loyalty_points.expire_points, loyalty_points.remind_points_expiring} <= listed
    uid = make_user()
    _settings(expiry_mode="days", expiry_days=1, remind_days=3)
    points.earn(uid, 9, kind="grant", key="t:a", now=utcnow() - timedelta(days=2))
    points.earn(uid, 4, kind="grant", key="t:b")
    db.session.commit()
    assert loyalty_points.expire_points() == 9 and loyalty_points.expire_points() == 0
    assert loyalty_points.remind_points_expiring() == 1 and loyalty_points.remind_points_expiring() == 0
    assert points.balance(uid) == 4
    assert_points_balanced(uid)
