"""The roll-up equals a direct computation (hypothesis): random units on random days and hours around local
midnight, with discounts, supplier costs, partner shares, gifts taken back on a later day (a refund that reverses
revenue) and units never delivered (refunded without touching revenue); any subset of the days rolled up, some
twice; the page's figures (roll-up + live days) equal direct() for every grouping, and the totals equal the books.
The periodic job rolls up the finished days lately booked on, never today."""

import itertools
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.accounts.models import Role, User
from app.extensions import db
from app.insight import margin, periods
from app.insight.margin_models import MarginDaily, MarginDay
from app.insight.periods import Period
from app.ledger import services as ledger
from tests.support import margin as sales

START = datetime(2026, 10, 31, 16)  # 2026-11-01 00:00 in Shanghai
TODAY = datetime(2026, 11, 6, 4)    # 2026-11-06 12:00 in Shanghai: the last day is live
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 6)
RUNS = itertools.count(1)

units = st.lists(st.tuples(st.sampled_from(["stock", "supplier", "bundle", "gift", "undelivered", "wholesale"]),
                           st.integers(0, 1), st.integers(1, 300_00), st.integers(0, 100_00),
                           st.integers(0, 6 * 24 - 13), st.booleans()), min_size=1, max_size=15)


@pytest.fixture
def clock(monkeypatch):
    c = sales.Clock(START)
    monkeypatch.setattr(ledger, "utcnow", c)
    monkeypatch.setattr(periods, "utcnow", lambda: TODAY)
    return c


def _by(report):
    return {x.key: x.figures() for x in report.lines}


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=units, rolled=st.sets(st.integers(0, 5)))
def test_the_roll_up_equals_a_direct_computation(ctx, clock, make_user, make_sku, sequence, rolled):
    run = next(RUNS)
    db.session.execute(sa.delete(MarginDaily))  # the examples share one transaction: no roll-up from the last one
    db.session.execute(sa.delete(MarginDay))
    finance = db.session.get(User, make_user(Role.finance))
    skus = [make_sku(price="30.00", brand=f"品牌{run}-{i}") for i in range(2)]
    sup = sales.supplier()
    bundle, part, _ = sales.bundle(finance, make_sku, share_bp=3333)
    from app.channels import resellers
    reseller = resellers.for_user(db.session.get(User, make_user(Role.reseller, org=f"代理{run}"))).id
    later = []
    for kind, i, amount, discount, hour, take_back in sorted(sequence, key=lambda s: s[4]):
        clock.now = START + timedelta(hours=hour)
        o = sales.order(skus[i], unit_price_fen=amount)
        if kind == "stock":
            sales.unit(o, amount=amount, discount=discount)
        elif kind == "supplier":
            sales.unit(o, amount=amount, supplier_id=sup, cost=amount * 3 // 4)
        elif kind == "bundle":
            sales.unit(o, amount=amount, sku_id=part, bundle_id=bundle)
        elif kind == "gift":
            d = sales.unit(o, amount=0, discount=discount + 1, extra=True)
            if take_back:
                later.append((clock.now + timedelta(hours=12), d))
        elif kind == "undelivered":
            sales.unit(o, amount=amount, deliver=False)
        else:
            w = sales.order(skus[i], channel="reseller", reseller_id=reseller, unit_price_fen=amount, quantity=2)
            sales.wholesale_batch(w, 2)
    for at, d in later:  # taken back half a day later: often the next day
        clock.now = at
        sales.refund_extra(d)
    db.session.flush()
    period = Period(FIRST, LAST)
    for n in sorted(rolled):
        day = FIRST + timedelta(days=n)
        margin.rebuild(day, day)
        if n % 2:
            margin.rebuild(day, day)  # a rerun changes nothing
    books = sales.account_sums(*period.bounds())
    for by in margin.BY:
        read, direct = margin.read(period, by), margin.direct(period, by)
        assert _by(read) == _by(direct), by
        assert read.total.figures() == (-books.get("6001", 0), books.get("6003", 0), books.get("6401", 0),
                                        books.get("6402", 0))


def test_the_job_rolls_up_finished_days_and_leaves_today_live(ctx, clock, make_sku):
    sku = make_sku(price="30.00")
    for day in range(6):
        clock.now = START + timedelta(days=day, hours=3)
        sales.unit(sales.order(sku, unit_price_fen=3000), amount=3000)
    clock.now = TODAY
    db.session.commit()
    assert margin.refresh() > 0
    built = set(db.session.scalars(db.select(MarginDay.day)))
    assert FIRST + timedelta(days=4) in built and LAST not in built
    totals = margin.read(Period(FIRST, LAST), "sku").total
    assert totals.revenue == margin.direct(Period(FIRST, LAST), "sku").total.revenue
    assert margin.refresh() == margin.refresh()  # idempotent: the same rows again
