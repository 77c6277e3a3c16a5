"""The dashboard's operations figures for a period, each with the period before to compare with where that makes
sense, filterable by brand: conversion, redemption lag, stock cover, suppliers and campaigns (docs/insight-
operations.md defines each exactly). Daily figures come from the roll-ups in operations_models for past days and
are computed live for today, by the same function the roll-up job uses (`compute_day`)."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from app.catalog.models import Product, Sku
from app.extensions import db
from app.fulfilment import services as fulfilment
from app.fulfilment.models import Delivery, DeliveryStatus
from app.insight import lag, pageviews
from app.insight.operations_models import ProductViewDay, SkuDay
from app.insight.periods import Period, today
from app.marketing.models import Campaign, OrderPromotion
from app.orders.models import Order
from app.suppliers.models import Supplier

#: Stock cover divides sellable stock by the average units sold a day over this many days (today included).
COVER_DAYS = 14
#: Re-rolled by every run of the periodic job: late payments and refunds settle within these days.
SETTLE_DAYS = 3


def _bounds(day: date) -> tuple[datetime, datetime]:
    return Period(day, day).bounds()


def _brand_skus(brand_id: int | None):
    """The SKU ids of a brand, as a subquery; None: no filter."""
    if brand_id is None:
        return None
    return sa.select(Sku.id).join(Product, Product.id == Sku.product_id).where(Product.brand_id == brand_id)


def compute_day(day: date) -> dict[int, tuple[int, int, int]]:
    """Per SKU, straight from the orders: (retail orders placed, retail orders paid, units paid in any channel)."""
    start, end = _bounds(day)
    out: dict[int, list[int]] = {}
    placed = db.session.execute(
        sa.select(Order.sku_id, sa.func.count()).where(Order.created_at >= start, Order.created_at < end,
                                                      Order.channel == "retail").group_by(Order.sku_id))
    for sku_id, n in placed:
        out.setdefault(sku_id, [0, 0, 0])[0] = int(n)
    paid = db.session.execute(
        sa.select(Order.sku_id, sa.func.count().filter(Order.channel == "retail"), sa.func.sum(Order.quantity))
        .where(Order.paid_at >= start, Order.paid_at < end).group_by(Order.sku_id))
    for sku_id, n, units in paid:
        row = out.setdefault(sku_id, [0, 0, 0])
        row[1], row[2] = int(n), int(units or 0)
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def rollup(first: date, last: date) -> int:
    """Recompute the SKU and redemption-lag roll-ups of days first..last (never today: it is live) from the orders
    and units; a rerun writes the same rows. Commits once a day. Returns the number of days rolled up."""
    last = min(last, today() - timedelta(days=1))
    n = 0
    day = first
    while day <= last:
        db.session.execute(sa.delete(SkuDay).where(SkuDay.day == day))
        db.session.add_all(SkuDay(day=day, sku_id=sku_id, orders=o, paid_orders=p, paid_units=u)
                           for sku_id, (o, p, u) in compute_day(day).items())
        lag.roll_day(day)
        db.session.commit()
        day += timedelta(days=1)
        n += 1
    return n


def roll_recent() -> int:
    """(Periodic job.) Fold yesterday's and older page views out of Redis and the reveals since the lag cutoff into
    the lag roll-up, re-roll the last SETTLE_DAYS days."""
    pageviews.fold()
    lag.fold()
    yesterday = today() - timedelta(days=1)
    return rollup(yesterday - timedelta(days=SETTLE_DAYS - 1), yesterday)


@dataclass
class Day:
    views: int = 0
    orders: int = 0
    paid: int = 0
    units: int = 0


def daily(period: Period, brand_id: int | None = None) -> dict[date, Day]:
    """Per day of the period: views, retail orders, paid retail orders and units paid (roll-ups; today live)."""
    days = {d: Day() for d in period.each_day()}
    skus = _brand_skus(brand_id)
    q = (sa.select(SkuDay.day, sa.func.sum(SkuDay.orders), sa.func.sum(SkuDay.paid_orders),
                   sa.func.sum(SkuDay.paid_units))
         .where(SkuDay.day >= period.first, SkuDay.day <= period.last).group_by(SkuDay.day))
    v = (sa.select(ProductViewDay.day, sa.func.sum(ProductViewDay.views))
         .where(ProductViewDay.day >= period.first, ProductViewDay.day <= period.last).group_by(ProductViewDay.day))
    if skus is not None:
        q, v = q.where(SkuDay.sku_id.in_(skus)), v.where(ProductViewDay.sku_id.in_(skus))
    now = today()
    for day, o, p, u in db.session.execute(q):
        if day in days and day < now:
            days[day].orders, days[day].paid, days[day].units = int(o), int(p), int(u)
    for day, n in db.session.execute(v):
        if day in days and day < now:
            days[day].views = int(n)
    if now in days:
        wanted = None if skus is None else set(db.session.scalars(skus))
        for sku_id, (o, p, u) in compute_day(now).items():
            if wanted is None or sku_id in wanted:
                d = days[now]
                d.orders, d.paid, d.units = d.orders + o, d.paid + p, d.units + u
        days[now].views = sum(n for sku_id, n in pageviews.live(now).items() if wanted is None or sku_id in wanted)
    return days


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass
class Conversion:
    views: int
    orders: int
    paid: int

    @property
    def view_to_order(self) -> float | None:
        return _rate(self.orders, self.views)

    @property
    def order_to_paid(self) -> float | None:
        return _rate(self.paid, self.orders)

    @property
    def view_to_paid(self) -> float | None:
        return _rate(self.paid, self.views)


def conversion(days: dict[date, Day]) -> Conversion:
    return Conversion(sum(d.views for d in days.values()), sum(d.orders for d in days.values()),
                      sum(d.paid for d in days.values()))


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank p-th percentile (p in 0..100) of the values; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(p/100 × n)
    return ordered[int(rank) - 1]


#: The redemption lag lives in app/insight/lag.py (its own roll-up); re-exported for the report.
Lag = lag.Lag


def redemption_lag(period: Period, brand_id: int | None = None) -> Lag:
    """Units delivered in the period: hours from delivery to their first reveal or redemption (bucket resolution),
    and how many were neither revealed nor redeemed (yet)."""
    return lag.redemption_lag(period, _brand_skus(brand_id))


@dataclass
class Cover:
    sku_id: int
    sku: str
    name: str
    stock: int
    sold: int
    #: Units sold a day on average over COVER_DAYS days.
    per_day: float
    #: Days the stock lasts at that rate; None when nothing sold (it lasts).
    days_left: float | None


def stock_cover(brand_id: int | None = None, now: date | None = None) -> list[Cover]:
    """Every active SKU with limited stock: sellable units ÷ units sold a day over the last COVER_DAYS days
    (today included); the lowest cover first, SKUs that sold nothing last."""
    now = now or today()
    q = sa.select(Sku).where(Sku.active.is_(True)).order_by(Sku.id)
    skus = _brand_skus(brand_id)
    if skus is not None:
        q = q.where(Sku.id.in_(skus))
    all_skus = list(db.session.scalars(q))
    stock = fulfilment.availability(all_skus)
    sold = _units_by_sku(now - timedelta(days=COVER_DAYS - 1), now)
    rows = []
    for s in all_skus:
        units = stock.get(s.id)
        if units is None:  # bought from a supplier at order time: no stock to run out of
            continue
        n = sold.get(s.id, 0)
        per_day = n / COVER_DAYS
        rows.append(Cover(s.id, s.sku, s.name, units, n, round(per_day, 2),
                          round(units / per_day, 1) if per_day else None))
    return sorted(rows, key=lambda c: (c.days_left is None, c.days_left or 0, c.sku_id))


def _units_by_sku(first: date, last: date) -> dict[int, int]:
    out = {sku_id: int(u) for sku_id, u in db.session.execute(
        sa.select(SkuDay.sku_id, sa.func.sum(SkuDay.paid_units))
        .where(SkuDay.day >= first, SkuDay.day <= min(last, today() - timedelta(days=1))).group_by(SkuDay.sku_id))}
    if first <= today() <= last:
        for sku_id, (_o, _p, u) in compute_day(today()).items():
            out[sku_id] = out.get(sku_id, 0) + u
    return out


@dataclass
class SupplierFigures:
    supplier_id: int
    name: str
    delivered: int
    failed: int
    p50_minutes: float | None
    p95_minutes: float | None

    @property
    def success_rate(self) -> float | None:
        return _rate(self.delivered, self.delivered + self.failed)


def suppliers(period: Period, brand_id: int | None = None) -> list[SupplierFigures]:
    """Per supplier, units it delivered in the period and units that failed in it (in the exception queue now),
    with the minutes from the unit's creation to its delivery (p50, p95)."""
    start, end = period.bounds()
    skus = _brand_skus(brand_id)
    ok = sa.and_(Delivery.supplier_id.is_not(None), Delivery.delivered_at >= start, Delivery.delivered_at < end)
    bad = (sa.select(Delivery.supplier_id, sa.func.count())
           .where(Delivery.supplier_id.is_not(None), Delivery.status == DeliveryStatus.failed,
                  Delivery.failed_at >= start, Delivery.failed_at < end).group_by(Delivery.supplier_id))
    if skus is not None:
        ok, bad = sa.and_(ok, Delivery.sku_id.in_(skus)), bad.where(Delivery.sku_id.in_(skus))
    latency = _latency(ok)
    failed = {sid: int(n) for sid, n in db.session.execute(bad)}
    ids = sorted(set(latency) | set(failed))
    names = dict(db.session.execute(sa.select(Supplier.id, Supplier.name).where(Supplier.id.in_(ids))).all())
    out = []
    for sid in ids:
        n, p50, p95 = latency.get(sid, (0, None, None))
        out.append(SupplierFigures(sid, names.get(sid, f"#{sid}"), n, failed.get(sid, 0),
                                   None if p50 is None else round(p50, 1), None if p95 is None else round(p95, 1)))
    return out


def _latency(where) -> dict[int, tuple[int, float | None, float | None]]:
    """Per supplier, over the deliveries `where` picks: (units, p50, p95 of the minutes from queued to delivered),
    nearest-rank percentiles."""
    if db.session.get_bind().dialect.name == "postgresql":
        # percentile_disc is the nearest rank: the database sorts, no row of a busy month comes to Python
        minutes = sa.func.greatest(sa.func.extract("epoch", Delivery.delivered_at - Delivery.created_at) / 60, 0)
        q = sa.select(Delivery.supplier_id, sa.func.count(),
                      sa.func.percentile_disc(0.5).within_group(minutes),
                      sa.func.percentile_disc(0.95).within_group(minutes)).where(where).group_by(Delivery.supplier_id)
        return {sid: (int(n), float(p50), float(p95)) for sid, n, p50, p95 in db.session.execute(q)}
    minutes: dict[int, list[float]] = {}
    q = sa.select(Delivery.supplier_id, Delivery.created_at, Delivery.delivered_at).where(where)
    for supplier_id, created, delivered in db.session.execute(q):
        minutes.setdefault(supplier_id, []).append(max(0.0, (delivered - created).total_seconds() / 60))
    return {sid: (len(m), percentile(m, 50), percentile(m, 95)) for sid, m in minutes.items()}


@dataclass
class CampaignFigures:
    campaign_id: int
    name: str
    orders: int
    gmv_fen: int
    discount_fen: int
    #: Orders by promotion source (coupon, flash_sale, group_buy...).
    by_source: dict[str, int] = field(default_factory=dict)


def campaigns(period: Period, brand_id: int | None = None) -> list[CampaignFigures]:
    """Campaigns that ran during the period: orders paid in it through each, their GMV (what buyers paid) and
    the discount the campaign gave on them."""
    start, end = period.bounds()
    running = list(db.session.scalars(sa.select(Campaign).where(Campaign.starts_at < end, Campaign.ends_at >= start)
                                      .order_by(Campaign.starts_at, Campaign.id)))
    if not running:
        return []
    ids = [c.id for c in running]
    base = (sa.select(OrderPromotion.campaign_id, OrderPromotion.order_id, OrderPromotion.source,
                      OrderPromotion.discount_fen, Order.amount_fen)
            .join(Order, Order.id == OrderPromotion.order_id)
            .where(OrderPromotion.campaign_id.in_(ids), Order.paid_at >= start, Order.paid_at < end))
    skus = _brand_skus(brand_id)
    if skus is not None:
        base = base.where(Order.sku_id.in_(skus))
    seen: dict[int, dict[int, int]] = {}
    disc: dict[int, int] = {}
    sources: dict[int, dict[str, set]] = {}
    for cid, oid, source, discount, amount in db.session.execute(base):
        seen.setdefault(cid, {})[oid] = int(amount)
        disc[cid] = disc.get(cid, 0) + int(discount)
        sources.setdefault(cid, {}).setdefault(source, set()).add(oid)
    return [CampaignFigures(c.id, c.name, len(seen.get(c.id, {})), sum(seen.get(c.id, {}).values()),
                            disc.get(c.id, 0), {s: len(o) for s, o in sorted(sources.get(c.id, {}).items())})
            for c in running]
