"""Sales figures for a period (docs/insight.md has every definition): from the daily roll-ups, with the days not
rolled up (today always) read live; or `direct`ly from the orders and the ledger, which must give the same."""

from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.catalog.models import Brand, Sku
from app.core.errors import ValidationError, raise_all
from app.extensions import db
from app.insight import sources
from app.insight.models import BuyerDay, DailySales
from app.insight.periods import Period
from app.insight.rollups import rolled
from app.insight.sources import CHANNELS, SaleRow

TOP = 10


@dataclass
class Totals:
    gmv_fen: int = 0
    paid_orders: int = 0
    units: int = 0
    discount_fen: int = 0
    refund_fen: int = 0
    refunds: int = 0
    paying_users: int = 0
    repeat_users: int = 0

    def add(self, r: SaleRow) -> None:
        self.gmv_fen += r.gmv_fen
        self.paid_orders += r.paid_orders
        self.units += r.units
        self.discount_fen += r.discount_fen
        self.refund_fen += r.refund_fen
        self.refunds += r.refunds

    @property
    def aov_fen(self) -> int:
        """Average order value: GMV ÷ paid orders, rounded half up to the fen."""
        return (2 * self.gmv_fen + self.paid_orders) // (2 * self.paid_orders) if self.paid_orders else 0

    @property
    def refund_rate(self) -> float | None:
        """Refunded ÷ GMV of the period (refunds may be of orders paid earlier)."""
        return self.refund_fen / self.gmv_fen if self.gmv_fen else None

    @property
    def repeat_rate(self) -> float | None:
        """Paying users with two or more paid orders in the period ÷ paying users."""
        return self.repeat_users / self.paying_users if self.paying_users else None


@dataclass
class Ranked:
    id: int
    name: str
    gmv_fen: int
    paid_orders: int
    units: int


@dataclass
class Day:
    day: date
    gmv_fen: int = 0
    paid_orders: int = 0
    discount_fen: int = 0
    refund_fen: int = 0


@dataclass
class Figures:
    period: Period
    brand_id: int | None
    channel: str | None
    totals: Totals
    previous: Totals
    by_channel: dict[str, Totals] = field(default_factory=dict)
    top_skus: list[Ranked] = field(default_factory=list)
    top_brands: list[Ranked] = field(default_factory=list)
    daily: list[Day] = field(default_factory=list)


def parse_filters(args) -> tuple[int | None, str | None]:
    """`brand` (a brand's id) and `channel` from query arguments; ValidationError with every reason at once."""
    errors: list[ValidationError] = []
    brand_id = None
    raw = (args.get("brand") or "").strip()
    if raw:
        if not raw.isdigit() or db.session.get(Brand, int(raw)) is None:
            errors.append(ValidationError(_l("No such brand."), code="BRAND_INVALID", field="brand"))
        else:
            brand_id = int(raw)
    channel = (args.get("channel") or "").strip() or None
    if channel is not None and channel not in CHANNELS:
        errors.append(ValidationError(_l("Choose retail, points mall, reseller or enterprise."),
                                      code="CHANNEL_INVALID", field="channel"))
        channel = None
    raise_all(errors)
    return brand_id, channel


def figures(period: Period, brand_id: int | None = None, channel: str | None = None) -> Figures:
    """The dashboard's figures: rolled-up days from the roll-ups, the others (today always) live."""
    return _figures(period, brand_id, channel, use_rollups=True)


def direct(period: Period, brand_id: int | None = None, channel: str | None = None) -> Figures:
    """The same figures computed straight from the orders and the ledger (the roll-ups must agree)."""
    return _figures(period, brand_id, channel, use_rollups=False)


def _figures(period: Period, brand_id, channel, use_rollups: bool) -> Figures:
    if db.session.get_bind().dialect.name == "postgresql":
        # short reads: compiling them to machine code (PostgreSQL's JIT) costs more than it saves
        db.session.execute(sa.text("SET LOCAL jit = off"))
    rows, buyers = _read(period, brand_id, channel, use_rollups)
    fig = Figures(period, brand_id, channel, Totals(), Totals())
    per_sku: dict[int, Ranked] = {}
    per_brand: dict[int, Ranked] = {}
    days = {d: Day(d) for d in period.each_day()}
    for r in rows:
        fig.totals.add(r)
        fig.by_channel.setdefault(r.channel, Totals()).add(r)
        for key, bucket in ((r.sku_id, per_sku), (r.brand_id, per_brand)):
            k = bucket.setdefault(key, Ranked(key, "", 0, 0, 0))
            k.gmv_fen += r.gmv_fen
            k.paid_orders += r.paid_orders
            k.units += r.units
        d = days[r.day]
        d.gmv_fen += r.gmv_fen
        d.paid_orders += r.paid_orders
        d.discount_fen += r.discount_fen
        d.refund_fen += r.refund_fen
    fig.totals.paying_users, fig.totals.repeat_users = buyers.pop(None, (0, 0))
    for ch, (users, repeat) in buyers.items():
        t = fig.by_channel.setdefault(ch, Totals())
        t.paying_users, t.repeat_users = users, repeat
    fig.by_channel = {ch: fig.by_channel[ch] for ch in CHANNELS if ch in fig.by_channel}
    fig.daily = list(days.values())
    fig.top_skus = _name(_top(per_sku), Sku, lambda s: f"{s.name} ({s.sku})")
    fig.top_brands = _name(_top(per_brand), Brand, lambda b: b.name)
    prev_rows, prev_buyers = _read(period.previous(), brand_id, channel, use_rollups, per_channel=False)
    for r in prev_rows:
        fig.previous.add(r)
    fig.previous.paying_users, fig.previous.repeat_users = prev_buyers.get(None, (0, 0))
    return fig


def _top(bucket: dict[int, Ranked]) -> list[Ranked]:
    ranked = [r for r in bucket.values() if r.paid_orders]
    return sorted(ranked, key=lambda r: (-r.gmv_fen, -r.paid_orders, r.id))[:TOP]


def _name(ranked: list[Ranked], model, text) -> list[Ranked]:
    if ranked:
        objs = {o.id: o for o in db.session.scalars(sa.select(model).where(model.id.in_([r.id for r in ranked])))}
        for r in ranked:
            r.name = text(objs[r.id]) if r.id in objs else f"#{r.id}"
    return ranked


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) runs."""
    runs: list[list[date]] = []
    for d in sorted(days):
        if runs and runs[-1][1] + timedelta(days=1) == d:
            runs[-1][1] = d
        else:
            runs.append([d, d])
    return [(a, b) for a, b in runs]


def _read(period: Period, brand_id, channel, use_rollups: bool, per_channel: bool = True):
    """(sale rows, {channel or None: (paying users, repeat users)}) for the period (None: every channel)."""
    done = rolled(period.first, period.last) if use_rollups else set()
    live = _runs([d for d in period.each_day() if d not in done])
    rows: list[SaleRow] = []
    if done:
        q = sa.select(DailySales.day, DailySales.channel, DailySales.sku_id, DailySales.brand_id,
                      DailySales.gmv_fen, DailySales.paid_orders, DailySales.units, DailySales.discount_fen,
                      DailySales.refund_fen, DailySales.refunds) \
            .where(DailySales.day >= period.first, DailySales.day <= period.last)
        if brand_id is not None:
            q = q.where(DailySales.brand_id == brand_id)
        if channel is not None:
            q = q.where(DailySales.channel == channel)
        rows += [SaleRow(*r) for r in db.session.execute(q)]
    parts = []
    if done:
        q = sa.select(BuyerDay.channel, BuyerDay.buyer, BuyerDay.orders) \
            .where(BuyerDay.day >= period.first, BuyerDay.day <= period.last)
        if brand_id is not None:
            q = q.where(BuyerDay.brand_id == brand_id)
        if channel is not None:
            q = q.where(BuyerDay.channel == channel)
        parts.append(q)
    for first, last in live:
        start, end = Period(first, last).bounds()
        rows += sources.sales(start, end, brand_id, channel)
        b = sources.buyers_query(start, end, brand_id, channel).subquery()
        parts.append(sa.select(b.c.channel, b.c.buyer, b.c.orders))
    return rows, _buyers(parts, per_channel)


def _buyers(parts, per_channel: bool) -> dict[str | None, tuple[int, int]]:
    """{channel: (paying users, repeat users)}, and None: the same over every channel (a buyer in two channels
    is one paying user there)."""
    if not parts:
        return {}
    every = sa.union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    # One pass, one group a buyer: their orders over every channel and in each (4 sums beat grouping sets of
    # (channel, buyer) and (buyer), which hash every buyer twice: at 1M orders 30 days went from ~210 to ~120 ms).
    sums = [sa.func.sum(every.c.orders).label("all")]
    if per_channel:
        sums += [sa.func.sum(every.c.orders).filter(every.c.channel == ch).label(ch) for ch in CHANNELS]
    per = sa.select(every.c.buyer, *sums).group_by(every.c.buyer).subquery()
    keys = [None, *CHANNELS] if per_channel else [None]
    counts = [f(per.c[k or "all"]) for k in keys
              for f in (sa.func.count, lambda c: sa.func.count().filter(c >= 2))]
    row = db.session.execute(sa.select(*counts)).one()
    out = {k: (int(row[2 * i]), int(row[2 * i + 1])) for i, k in enumerate(keys)}
    return {k: v for k, v in out.items() if k is None or v[0]}


CHANNEL_LABELS = {"retail": _l("Retail"), "points_mall": _l("Points mall"), "reseller": _l("Reseller"),
                  "enterprise": _l("Enterprise")}


def change(now: float | int | None, before: float | int | None) -> float | None:
    """Relative change vs the previous period (0.25 = +25 %); None when there is nothing to compare with."""
    if now is None or not before:
        return None
    return (now - before) / before


def headline(fig: Figures) -> list[tuple[str, str, object, object]]:
    """(key, label, value, previous value) of each headline figure; kinds by key: *_fen money, *_rate ratio."""
    t, p = fig.totals, fig.previous
    return [("gmv_fen", str(_l("GMV")), t.gmv_fen, p.gmv_fen),
            ("paid_orders", str(_l("Paid orders")), t.paid_orders, p.paid_orders),
            ("paying_users", str(_l("Paying users")), t.paying_users, p.paying_users),
            ("aov_fen", str(_l("Average order value")), t.aov_fen, p.aov_fen),
            ("refund_fen", str(_l("Refunds")), t.refund_fen, p.refund_fen),
            ("refunds", str(_l("Refunded orders")), t.refunds, p.refunds),
            ("refund_rate", str(_l("Refund rate")), t.refund_rate, p.refund_rate),
            ("repeat_rate", str(_l("Repeat purchase rate")), t.repeat_rate, p.repeat_rate)]


def channel_chart(fig: Figures) -> dict:
    """GMV per channel for static/js/chart.js's pie (amounts in yuan)."""
    return {"kind": "pie", "title": str(_l("GMV by channel")),
            "slices": [{"name": str(CHANNEL_LABELS.get(ch, ch)), "value": t.gmv_fen / 100}
                       for ch, t in fig.by_channel.items() if t.gmv_fen]}


def chart(fig: Figures) -> dict:
    """The daily trend for static/js/chart.js (amounts in yuan)."""
    return {"days": [d.day.isoformat() for d in fig.daily],
            "gmv": [d.gmv_fen / 100 for d in fig.daily], "discount": [d.refund_fen / 100 for d in fig.daily],
            "orders": [d.paid_orders for d in fig.daily],
            "labels": {"gmv": str(_l("GMV")), "discount": str(_l("Refunds")), "orders": str(_l("Paid orders"))}}


def brands() -> list[Brand]:
    """Every brand, for the filter."""
    return list(db.session.scalars(sa.select(Brand).order_by(Brand.name)))
