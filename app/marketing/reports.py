"""A campaign's report: what it sold and what it cost, by figures features register, a daily series for the
chart, and the same as an XLSX download.

Features add their own figures (coupons claimed and used...) with `register_figures(fn)`, `fn(campaign) ->
list[Figure]`. The figures this module computes read the orders marketing priced for the campaign
(order_promotions): orders placed, paid orders, GMV (what buyers paid), refunds, discount cost (the discounts
on paid orders), paying buyers, and incremental buyers (whose first paid retail order came through it)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core import tables
from app.core.audit import audit
from app.extensions import db
from app.ledger.periods import zone
from app.marketing.models import Campaign, OrderPromotion
from app.orders.models import Order


@dataclass(frozen=True)
class Figure:
    key: str
    label: object
    value: int
    #: "count" or "fen" (money, shown in yuan).
    kind: str = "count"


FIGURES: list[Callable[[Campaign], list[Figure]]] = []


def register_figures(fn: Callable[[Campaign], list[Figure]]) -> None:
    """Add a feature's figures to every campaign report (registering the same function again does nothing)."""
    if fn not in FIGURES:
        FIGURES.append(fn)


def _orders(campaign_id: int):
    """The ids of the orders the campaign took something off."""
    return sa.select(OrderPromotion.order_id).where(OrderPromotion.campaign_id == campaign_id).distinct()


def order_figures(campaign: Campaign) -> list[Figure]:
    ids = _orders(campaign.id).scalar_subquery()
    paid = Order.paid_at.is_not(None)
    placed, paid_orders, gmv, refunded, buyers = db.session.execute(sa.select(
        sa.func.count(Order.id),
        sa.func.count(Order.id).filter(paid),
        sa.func.coalesce(sa.func.sum(Order.amount_fen).filter(paid), 0),
        sa.func.coalesce(sa.func.sum(Order.refunded_fen).filter(paid), 0),
        sa.func.count(sa.distinct(Order.buyer_id)).filter(paid),
    ).where(Order.id.in_(ids))).one()
    gmv, refunded = int(gmv), int(refunded)  # PostgreSQL sums bigints as numeric
    cost = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(OrderPromotion.discount_fen), 0))
        .join(Order, Order.id == OrderPromotion.order_id)
        .where(OrderPromotion.campaign_id == campaign.id, paid))
    cost = int(cost)
    return [
        Figure("orders", _l("Orders placed"), placed),
        Figure("paid_orders", _l("Paid orders"), paid_orders),
        Figure("gmv", _l("GMV (paid)"), gmv, "fen"),
        Figure("refunded", _l("Refunded"), refunded, "fen"),
        Figure("discount_cost", _l("Discount cost"), cost, "fen"),
        Figure("buyers", _l("Paying buyers"), buyers),
        Figure("incremental_buyers", _l("Incremental buyers (first paid order)"), incremental_buyers(campaign.id)),
    ]


def incremental_buyers(campaign_id: int) -> int:
    """Buyers whose first paid retail order is one the campaign took something off."""
    ids = _orders(campaign_id).scalar_subquery()
    buyers = sa.select(Order.buyer_id).where(Order.id.in_(ids), Order.paid_at.is_not(None))
    first = (sa.select(Order.buyer_id, sa.func.min(Order.paid_at).label("first_at"))
             .where(Order.buyer_id.in_(buyers), Order.paid_at.is_not(None), Order.channel == "retail")
             .group_by(Order.buyer_id).subquery())
    return db.session.scalar(
        sa.select(sa.func.count(sa.distinct(Order.buyer_id)))
        .join(first, sa.and_(first.c.buyer_id == Order.buyer_id, first.c.first_at == Order.paid_at))
        .where(Order.id.in_(ids)))


def register_defaults() -> None:
    register_figures(order_figures)


def figures(campaign: Campaign) -> list[Figure]:
    return [f for fn in FIGURES for f in fn(campaign)]


def _local_day(column):
    """The platform-time-zone day of a UTC timestamp column, as SQL (the zone has no daylight saving)."""
    hours = int(zone().utcoffset(datetime.now()).total_seconds() // 3600)
    if db.engine.dialect.name == "sqlite":
        return sa.func.date(column, f"{hours:+d} hours")
    return sa.cast(column + sa.text(f"interval '{hours} hours'"), sa.Date)


def daily(campaign: Campaign) -> list[dict]:
    """Paid orders, GMV and discount cost per local day (days with a paid order only)."""
    ids = _orders(campaign.id).scalar_subquery()
    day = _local_day(Order.paid_at).label("day")
    cost = (sa.select(OrderPromotion.order_id, sa.func.sum(OrderPromotion.discount_fen).label("fen"))
            .where(OrderPromotion.campaign_id == campaign.id).group_by(OrderPromotion.order_id).subquery())
    rows = db.session.execute(
        sa.select(day, sa.func.count(Order.id), sa.func.sum(Order.amount_fen), sa.func.sum(cost.c.fen))
        .join(cost, cost.c.order_id == Order.id)
        .where(Order.id.in_(ids), Order.paid_at.is_not(None)).group_by(day).order_by(day)).all()
    return [{"day": d if isinstance(d, str) else d.isoformat(), "orders": n, "gmv_fen": int(g or 0),
             "discount_fen": int(c or 0)} for d, n, g, c in rows]


@dataclass
class Report:
    campaign: Campaign
    figures: list[Figure]
    daily: list[dict]

    def chart(self) -> dict:
        """What the chart draws (static/js/campaign_chart.js reads it from a data- attribute)."""
        return {"days": [d["day"] for d in self.daily], "orders": [d["orders"] for d in self.daily],
                "gmv": [d["gmv_fen"] / 100 for d in self.daily],
                "discount": [d["discount_fen"] / 100 for d in self.daily],
                "labels": {"orders": str(_l("Paid orders")), "gmv": str(_l("GMV (paid)")),
                           "discount": str(_l("Discount cost"))}}


def build(campaign: Campaign) -> Report:
    return Report(campaign, figures(campaign), daily(campaign))


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export(campaign: Campaign, actor_id: int | None) -> tuple[str, bytes]:
    """The report as an XLSX (figures, then the days); the download is audited. Commits."""
    report = build(campaign)
    sheet = tables.Sheet(str(_l("Figures")), [str(_l("Figure")), str(_l("Count")), str(_l("Amount (¥)"))],
                         [[str(f.label), f.value if f.kind == "count" else None,
                           f.value if f.kind == "fen" else None] for f in report.figures], money={2})
    days = tables.Sheet(str(_l("By day")), [str(_l("Day")), str(_l("Paid orders")), str(_l("GMV (paid)")),
                                             str(_l("Discount cost"))],
                        [[d["day"], d["orders"], d["gmv_fen"], d["discount_fen"]] for d in report.daily],
                        money={2, 3})
    audit(actor_id, "campaign.report_export", "campaign", campaign.id)
    db.session.commit()
    return f"campaign-{campaign.id}-{datetime.now(zone()).date().isoformat()}.xlsx", tables.to_xlsx(sheet, days)
