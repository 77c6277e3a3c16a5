"""Each operations figure against a hand count of seeded data: conversion (roll-ups equal a direct computation,
late payments included, and a rerun rewrites the same), redemption lag, stock cover, suppliers, campaigns, and the
brand filter."""

from datetime import timedelta

import sqlalchemy as sa

from app.catalog.models import Sku
from app.core.ids import utcnow
from app.core.models import AuditLog
from app.extensions import db
from app.insight import lag
from app.insight import operations as ops
from app.insight.operations_models import LagDay, ProductViewDay, SkuDay
from app.insight.periods import Period, today
from tests.insight.conftest import ago, at


def _rows():
    return sorted(db.session.execute(sa.select(SkuDay.day, SkuDay.sku_id, SkuDay.orders, SkuDay.paid_orders,
                                               SkuDay.paid_units)).all())


def test_rollups_equal_a_direct_computation_and_a_rerun_writes_the_same(ctx, make_sku, seed_order):
    a, b = make_sku(), make_sku()
    seed_order(a, at(ago(5), 1), at(ago(5), 2))
    seed_order(a, at(ago(5), 23.5), at(ago(4), 0.5))  # placed late on one day, paid just after midnight
    seed_order(a, at(ago(4)), None)  # never paid
    seed_order(a, at(ago(4)), at(ago(2)), status="refunded")  # paid two days late, refunded since: still paid
    seed_order(b, at(ago(3)), at(ago(3)), channel="reseller", quantity=5)  # not retail: units only
    seed_order(b, at(ago(1)), at(ago(1)), quantity=2)
    assert ops.rollup(ago(6), ago(1)) == 6
    first = _rows()
    direct = sorted((d, sku, *v) for d in Period(ago(6), ago(1)).each_day() for sku, v in ops.compute_day(d).items())
    assert first == direct
    assert first == sorted([(ago(5), a, 2, 1, 1), (ago(4), a, 2, 1, 1), (ago(2), a, 0, 1, 1),
                            (ago(3), b, 0, 0, 5), (ago(1), b, 1, 1, 2)])
    assert ops.rollup(ago(6), ago(1)) == 6 and _rows() == first  # idempotent
    assert ops.rollup(ago(1), today()) == 1  # today is never rolled up: it is live


def test_daily_reads_rollups_for_past_days_and_today_live(ctx, make_sku, seed_order):
    a = make_sku()
    seed_order(a, at(ago(1)), at(ago(1)))
    db.session.add(ProductViewDay(day=ago(1), sku_id=a, views=7))
    db.session.commit()
    ops.rollup(ago(1), ago(1))
    seed_order(a, at(today(), 0.01), at(today(), 0.02))  # today: counted live, no roll-up needed
    days = ops.daily(Period(ago(1), today()))
    assert (days[ago(1)].views, days[ago(1)].orders, days[ago(1)].paid) == (7, 1, 1)
    assert (days[today()].orders, days[today()].paid, days[today()].units) == (1, 1, 1)
    c = ops.conversion(days)
    assert (c.views, c.orders, c.paid, c.view_to_order, c.order_to_paid) == (7, 2, 2, round(2 / 7, 4), 1.0)


def test_brand_filter(ctx, make_sku, seed_order):
    a, b = make_sku(brand="爱奇艺"), make_sku(brand="腾讯视频")
    seed_order(a, at(ago(1)), at(ago(1)))
    seed_order(b, at(ago(1)), at(ago(1)))
    seed_order(b, at(ago(1)), None)
    ops.rollup(ago(1), ago(1))
    brand_b = db.session.get(Sku, b).product.brand_id
    c = ops.conversion(ops.daily(Period(ago(1), ago(1)), brand_b))
    assert (c.orders, c.paid) == (2, 1)


def _lag_rows():
    return sorted((r.day, r.sku_id, r.delivered, r.never, r.buckets) for r in db.session.scalars(sa.select(LagDay)))


def _hist(lag_: ops.Lag) -> tuple:
    return lag_.delivered, lag_.never, lag_.median_hours, lag_.p90_hours


def test_redemption_lag(ctx, make_sku, seed_unit):
    sku = make_sku()
    d = at(ago(2), 1)
    seed_unit(sku, d, reveals=(d + timedelta(hours=1), d + timedelta(hours=5)))  # first reveal counts: 1 h
    seed_unit(sku, d, used=d + timedelta(hours=3))  # redeemed (a top-up): 3 h
    seed_unit(sku, d, reveals=(d + timedelta(hours=10),), used=d + timedelta(hours=12))  # the earlier: 10 h
    seed_unit(sku, d)  # never revealed nor redeemed
    seed_unit(sku, d, extra=True)  # a gift unit: not counted
    seed_unit(sku, at(ago(20)), reveals=(at(ago(20), 13),))  # delivered before the period
    assert ops.redemption_lag(Period(ago(6), today())).delivered == 0  # past days come from the roll-up
    ops.rollup(ago(30), ago(1))
    lag_ = ops.redemption_lag(Period(ago(6), today()))
    # percentiles at bucket resolution: the middle of the bucket, within 4.5 % of the lag itself
    assert (lag_.delivered, lag_.never, lag_.never_share) == (4, 1, 0.25)
    assert lag_.median_hours == round(lag.hours(lag.bucket(3 * 3600)), 2) and abs(lag_.median_hours - 3) < 0.14
    assert lag_.p90_hours == round(lag.hours(lag.bucket(10 * 3600)), 2) and abs(lag_.p90_hours - 10) < 0.45
    assert ops.redemption_lag(Period(ago(30), ago(10))).delivered == 1
    empty = ops.redemption_lag(Period(ago(60), ago(50)))
    assert (empty.delivered, empty.median_hours, empty.never_share) == (0, None, None)


def test_lag_buckets():
    assert [lag.bucket(s) for s in (0, 59.9, 60, 61, 120, 3600)] == [0, 0, 1, 1, 9, 48]
    for seconds in (75, 3 * 3600, 10 * 3600, 40 * 86400, 400 * 86400):
        assert abs(lag.hours(lag.bucket(seconds)) * 3600 / seconds - 1) < 0.045


def test_lag_rollup_equals_the_live_count_and_late_reveals_count(ctx, make_sku, seed_unit, monkeypatch):
    """The roll-up rows equal a direct count; a unit revealed after the roll-up is counted at once (read live since
    the cutoff), and the job's fold writes it into its day's row without changing the figure; today is live."""
    a, b = make_sku(), make_sku()
    for n in range(1, 6):
        d = at(ago(n), 2)
        seed_unit(a, d, reveals=(d + timedelta(minutes=7 * n),))
        seed_unit(b, d, used=d + timedelta(hours=n, minutes=13))
        seed_unit(b, d, reveals=(d + timedelta(hours=20 * n),), used=d + timedelta(hours=20 * n + 1))
    late = seed_unit(a, at(ago(2), 3))  # not revealed when rolled up
    seed_unit(a, at(today(), 0.01), used=at(today(), 0.02))  # today: live
    period = Period(ago(6), today())

    def direct() -> tuple:  # every unit counted straight from the units, no roll-up
        h = lag.Histogram()
        for day in period.each_day():
            for x in lag.compute_day(day).values():
                h.merge(x.delivered, x.never, x.buckets)
        return h.delivered, h.never, h.percentile(50), h.percentile(90)

    assert ops.rollup(ago(6), ago(1)) == 6
    rows = _lag_rows()
    assert rows == sorted((d, sku, x.delivered, x.never, {str(k): v for k, v in x.buckets.items()})
                          for d in Period(ago(6), ago(1)).each_day() for sku, x in lag.compute_day(d).items())
    assert (ago(2), a, 2, 1, {str(lag.bucket(14 * 60)): 1}) in rows
    assert _hist(ops.redemption_lag(period)) == direct() and direct()[:2] == (17, 1)
    assert ops.rollup(ago(6), ago(1)) == 6 and _lag_rows() == rows  # a rerun writes the same

    # revealed now, two days after its delivery: counted at once, though its day's row still says never
    db.session.add(AuditLog(actor_id=None, action="code.reveal", target_type="entitlement", target_id=late,
                            detail={}, created_at=utcnow()))
    db.session.commit()
    assert _lag_rows() == rows
    assert _hist(ops.redemption_lag(period)) == direct() and direct()[:2] == (17, 0)
    assert ops.redemption_lag(Period(ago(2), ago(2))).never == 0

    monkeypatch.setattr(lag, "MARGIN", timedelta(0))
    assert lag.fold() == 1  # only the late unit's day is written again
    row = next(r for r in _lag_rows() if r[:2] == (ago(2), a))
    assert row[2:4] == (2, 0) and sum(row[4].values()) == 2 and row[4][str(lag.bucket(14 * 60))] == 1
    assert [r for r in _lag_rows() if r[:2] != (ago(2), a)] == [r for r in rows if r[:2] != (ago(2), a)]
    assert _hist(ops.redemption_lag(period)) == direct()
    assert lag.fold() == 0  # nothing revealed since


def test_percentile_is_nearest_rank():
    assert ops.percentile([], 50) is None
    assert ops.percentile([5.0], 90) == 5.0
    assert ops.percentile([1, 2, 3, 4], 50) == 2 and ops.percentile(list(range(1, 101)), 95) == 95


def test_stock_cover_lowest_first(ctx, make_sku, stock, seed_order):
    fast, slow, idle = make_sku(name="fast"), make_sku(name="slow"), make_sku(name="idle")
    supplier_sku = make_sku(name="upstream", source="supplier")
    stock(fast, 5)
    stock(slow, 28)
    stock(idle, 3)
    for n in range(ops.COVER_DAYS):  # slow: one a day over the window, yesterday's rolled up, today's live
        seed_order(slow, at(ago(n)), at(ago(n)))
    seed_order(fast, at(ago(3)), at(ago(3)), quantity=10, channel="reseller")
    seed_order(fast, at(ago(ops.COVER_DAYS)), at(ago(ops.COVER_DAYS)), quantity=50)  # before the window
    seed_order(supplier_sku, at(ago(1)), at(ago(1)))
    ops.rollup(ago(ops.COVER_DAYS + 1), ago(1))
    rows = {c.sku_id: c for c in ops.stock_cover()}
    assert [c.sku_id for c in ops.stock_cover() if c.sku_id in (fast, slow, idle)] == [fast, slow, idle]
    assert supplier_sku not in rows  # bought at order time: no stock to run out of
    assert (rows[fast].stock, rows[fast].sold, rows[fast].days_left) == (5, 10, round(5 / (10 / 14), 1))
    assert (rows[slow].sold, rows[slow].per_day, rows[slow].days_left) == (14, 1.0, 28.0)
    assert (rows[idle].sold, rows[idle].days_left) == (0, None)


def test_suppliers(ctx, make_sku, make_supplier, seed_unit):
    sku = make_sku(source="supplier")
    s1, s2 = make_supplier(), make_supplier()
    d = at(ago(1), 2)
    for minutes in (1, 2, 3, 10):
        seed_unit(sku, d + timedelta(minutes=minutes), created=d, supplier_id=s1)
    seed_unit(sku, None, created=d, supplier_id=s1, status="failed", failed=d + timedelta(minutes=30))
    seed_unit(sku, d + timedelta(minutes=5), created=d, supplier_id=s2)
    seed_unit(sku, d, created=d)  # from stock: no supplier
    seed_unit(sku, at(ago(30)), supplier_id=s2)  # before the period
    got = {s.supplier_id: s for s in ops.suppliers(Period(ago(6), today()))}
    assert set(got) == {s1, s2}
    assert (got[s1].delivered, got[s1].failed, got[s1].success_rate) == (4, 1, 0.8)
    assert (got[s1].p50_minutes, got[s1].p95_minutes) == (2.0, 10.0)
    assert (got[s2].delivered, got[s2].failed, got[s2].success_rate, got[s2].p50_minutes) == (1, 0, 1.0, 5.0)
    # minutes with seconds, and a clock skew (delivered "before" queued) counts as 0: SQL and Python agree
    s3 = make_supplier()
    for seconds in (-30, 90, 150, 200, 601):
        seed_unit(sku, d + timedelta(seconds=seconds), created=d, supplier_id=s3)
    got = {s.supplier_id: s for s in ops.suppliers(Period(ago(6), today()))}
    assert (got[s3].delivered, got[s3].p50_minutes, got[s3].p95_minutes) == (5, 2.5, 10.0)


def test_campaigns(ctx, make_sku, seed_order, seed_campaign):
    sku, other_brand = make_sku(brand="腾讯视频"), make_sku(brand="爱奇艺")
    running = seed_campaign("双十二", at(ago(3)), at(ago(-3)))
    over = seed_campaign("双十一", at(ago(40)), at(ago(30)))
    seed_order(sku, at(ago(1)), at(ago(1)), amount_fen=2500, discount_fen=500, campaign_id=running)
    seed_order(sku, at(ago(1)), at(ago(1)), amount_fen=2000, discount_fen=300, campaign_id=running,
               source="flash_sale")
    seed_order(other_brand, at(ago(1)), at(ago(1)), amount_fen=1000, discount_fen=100, campaign_id=running)
    seed_order(sku, at(ago(1)), None, amount_fen=9900, discount_fen=100, campaign_id=running)  # never paid
    seed_order(sku, at(ago(35)), at(ago(35)), amount_fen=1000, discount_fen=100, campaign_id=over)
    got = ops.campaigns(Period(ago(6), today()))
    assert [(c.campaign_id, c.orders, c.gmv_fen, c.discount_fen, c.by_source) for c in got] == [
        (running, 3, 5500, 900, {"coupon": 2, "flash_sale": 1})]
    brand = db.session.get(Sku, sku).product.brand_id
    only = ops.campaigns(Period(ago(6), today()), brand)[0]
    assert (only.orders, only.gmv_fen, only.discount_fen) == (2, 4500, 800)
    assert ops.campaigns(Period(ago(100), ago(90))) == []


def test_the_rebuild_command_recomputes_a_range(ctx, runner, make_sku, seed_order):
    import json

    sku = make_sku()
    seed_order(sku, at(ago(3)), at(ago(2)))
    first, last = ago(4).isoformat(), ago(1).isoformat()
    for _ in range(2):  # a rerun writes the same
        result = runner.invoke(args=["insight", "rebuild", "--from", first, "--to", last])
        assert result.exit_code == 0, result.output
        out = json.loads(result.output)
        assert out["operations_days"] == 4 and (out["from"], out["to"]) == (first, last)
        assert _rows() == [(ago(3), sku, 1, 0, 0), (ago(2), sku, 0, 1, 1)]
    bad = runner.invoke(args=["insight", "rebuild", "--from", last, "--to", first])
    assert bad.exit_code != 0 and "error:" in bad.output and _rows()
    bad = runner.invoke(args=["insight", "rebuild", "--from", "2026-13-01", "--to", last])
    assert bad.exit_code != 0 and "2026-11-30" in bad.output


def test_the_periodic_job_rolls_the_lag_up_and_folds_late_reveals(ctx, make_sku, seed_unit, monkeypatch):
    sku = make_sku()
    unit = seed_unit(sku, at(ago(1), 2))
    ops.roll_recent()
    assert _lag_rows() == [(ago(1), sku, 1, 1, {})]
    db.session.add(AuditLog(actor_id=None, action="code.reveal", target_type="entitlement", target_id=unit,
                            detail={}, created_at=utcnow()))
    db.session.commit()
    monkeypatch.setattr(lag, "MARGIN", timedelta(0))
    ops.roll_recent()
    [(day, sku_id, delivered, never, buckets)] = _lag_rows()
    assert (day, sku_id, delivered, never, sum(buckets.values())) == (ago(1), sku, 1, 0, 1)
    assert lag.cutoff() > at(ago(1), 2)
