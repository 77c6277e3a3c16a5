"""Roll-ups always equal a direct computation from the orders (and a count by hand), across days, refunds and
late payments, however often and whenever the job ran."""

from collections import defaultdict

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.insight import rollups, sales
from app.insight.models import BuyerDay, DailySales, RolledDay
from app.insight.periods import Period
from app.ledger.models import JournalEntry, Posting
from app.marketing.models import OrderPromotion
from app.orders.models import Order
from app.payments.models import Payment
from tests.insight.conftest import at, days_ago

WINDOW = 8  # days back from today

order_st = st.fixed_dictionaries({
    "sku": st.integers(0, 1), "channel": st.sampled_from(["retail", "points_mall", "reseller", "enterprise"]),
    "buyer": st.integers(0, 2), "amount": st.integers(1, 50_000), "quantity": st.integers(1, 3),
    "discount": st.integers(0, 500), "paid": st.one_of(st.none(), st.integers(0, WINDOW)),
    "hour": st.sampled_from([0, 7, 8, 23]),  # local hours around the UTC day boundary (UTC+8)
    "refunds": st.lists(st.tuples(st.integers(0, WINDOW), st.integers(1, 100), st.booleans()), max_size=2),
})


def _clear() -> None:
    for model in (DailySales, BuyerDay, RolledDay, OrderPromotion, Posting):
        db.session.execute(sa.delete(model))
    db.session.execute(sa.delete(JournalEntry))
    db.session.execute(sa.delete(Payment))
    db.session.execute(sa.delete(Order))
    db.session.commit()


def _by_hand(orders, period: Period, skus) -> dict:
    first, last = period.first, period.last
    gmv = paid = units = discount = refund = 0
    per_buyer: dict = defaultdict(int)
    refunded: set = set()
    for i, o in enumerate(orders):
        if o["paid"] is not None and first <= days_ago(o["paid"]) <= last:
            gmv += o["amount"]
            paid += 1
            units += o["quantity"]
            discount += o["discount"]
            per_buyer["r" if o["channel"] == "reseller" else o["buyer"]] += 1
        for ago, amount, _via in o["refunds"] if o["paid"] is not None else []:
            if first <= days_ago(ago) <= last:
                refund += amount
                refunded.add((i, ago))
    return {"gmv_fen": gmv, "paid_orders": paid, "units": units, "discount_fen": discount, "refund_fen": refund,
            "refunds": len(refunded), "paying_users": len(per_buyer),
            "repeat_users": sum(1 for n in per_buyer.values() if n >= 2)}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(orders=st.lists(order_st, max_size=10), rolls=st.lists(st.integers(1, WINDOW), max_size=6),
       span=st.tuples(st.integers(0, WINDOW), st.integers(0, WINDOW)))
def test_rollups_equal_direct_and_hand_count(ctx, seeder, two_skus, orders, rolls, span):
    _clear()
    try:
        # Time runs forward: each day's events happen, then the job may roll up some day that is over. A late
        # payment is paid days after it was created; a refund lands on its own day, after the payment.
        events = []
        for i, o in enumerate(orders):
            if o["paid"] is None:
                events.append((WINDOW + 1, 0, "unpaid", i))
                continue
            events.append((o["paid"], 0, "pay", i))
            o["refunds"] = [(min(ago, o["paid"]), amount, via) for ago, amount, via in o["refunds"]]
            for n, r in enumerate(o["refunds"]):
                events.append((r[0], 1 + n, "refund", i))
        ids: dict[int, int] = {}
        rolled_at = dict(zip(range(WINDOW, -1, -1), [[] for _ in range(WINDOW + 1)], strict=True))
        for r in rolls:
            rolled_at[r - 1].append(r)  # rolled up (once more) while day r-1 ago runs: day r is over by then
        for ago in range(WINDOW + 1, -1, -1):
            for _when, n, kind, i in sorted(e for e in events if e[0] == ago):
                o = orders[i]
                if kind in ("pay", "unpaid"):
                    paid_at = at(days_ago(o["paid"]), o["hour"]) if kind == "pay" else None
                    ids[i] = seeder.order(two_skus[o["sku"]], paid_at=paid_at, channel=o["channel"],
                                          buyer=o["buyer"], amount_fen=o["amount"], quantity=o["quantity"],
                                          discount_fen=o["discount"])
                else:
                    _ago, amount, via = o["refunds"][n - 1]
                    seeder.refund(ids[i], amount, at(days_ago(ago), o["hour"]), via_payment=via)
            for r in rolled_at.get(ago, []):
                rollups.roll_up_day(days_ago(r))
        # an unpaid-closed order's wallet part going back is no refund
        if ids:
            seeder.refund(next(iter(ids.values())), 77, at(days_ago(0)), kind="wallet_refund",
                          key_suffix=":wallet_back")
        a, b = sorted(span, reverse=True)
        period = Period(days_ago(a), days_ago(b))
        rolled_fig, direct_fig = sales.figures(period), sales.direct(period)
        assert rolled_fig == direct_fig
        t = direct_fig.totals
        assert {k: getattr(t, k) for k in _by_hand(orders, period, two_skus)} == _by_hand(orders, period, two_skus)
        for ch in ("retail", "reseller"):  # a filtered view agrees too
            assert sales.figures(period, channel=ch) == sales.direct(period, channel=ch)
        # rerunning the job writes the same rows
        before = db.session.execute(sa.select(DailySales.__table__).order_by(*DailySales.__table__.primary_key)).all()
        for r in set(rolls):
            rollups.roll_up_day(days_ago(r))
        assert db.session.execute(
            sa.select(DailySales.__table__).order_by(*DailySales.__table__.primary_key)).all() == before
    finally:
        _clear()


def test_keep_up_rolls_recent_days_once_and_today_never(ctx, seeder, two_skus):
    seeder.order(two_skus[0], paid_at=at(days_ago(3)), amount_fen=500)
    days = rollups.days_to_roll()
    assert days_ago(0) not in days and days_ago(1) in days and len(days) == rollups.CATCH_UP_DAYS
    assert rollups.keep_up() == rollups.CATCH_UP_DAYS
    assert rollups.days_to_roll() == [days_ago(2), days_ago(1)]  # only the recent ones again
    assert db.session.scalar(sa.select(sa.func.sum(DailySales.gmv_fen))) == 500
    assert rollups.keep_up() == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DailySales)) == 1


def test_rebuild_command(runner, app, seeder, two_skus):
    import json

    seeder.order(two_skus[0], paid_at=at(days_ago(2)), amount_fen=900)
    first, last = days_ago(5).isoformat(), days_ago(0).isoformat()
    r = runner.invoke(args=["insight", "rebuild", "--from", first, "--to", last])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"from": first, "to": last, "days": 5, "rows": 1, "skipped_live_days": 1,
                                   "operations_days": 5, "margin_rows": 0}
    for bad in (["--from", "2026-13-01", "--to", last], ["--from", last, "--to", first],
                ["--from", "2024-01-01", "--to", "2026-01-01"]):
        r = runner.invoke(args=["insight", "rebuild", *bad])
        assert r.exit_code == 1 and "error:" in r.stderr
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RolledDay)) == 5


def test_job_is_declared():
    from jobs import insight
    from jobs.schedule import PERIODIC

    assert any(fn is insight.roll_up_sales for fn, _q, _s in PERIODIC)


def test_day_not_over_is_refused(ctx):
    import pytest

    from app.core.errors import ValidationError

    with pytest.raises(ValidationError):
        rollups.roll_up_day(days_ago(0))
    assert rollups.rebuild(days_ago(0), days_ago(0))["days"] == 0

