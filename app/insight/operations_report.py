"""The operations section of the dashboard as one report: its query arguments checked, every figure for the
period and the one before, the charts' data, and the same figures as an XLSX workbook (one sheet a figure)."""

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.catalog.models import Brand
from app.core import tables
from app.core.audit import audit
from app.core.errors import ValidationError
from app.extensions import db
from app.insight import operations as ops
from app.insight import periods
from app.insight.periods import Period


def parse(args) -> tuple[Period, Brand | None]:
    """The period and brand the query arguments ask for; a bad one raises ValidationError."""
    period = periods.parse(args)
    raw = (args.get("brand") or "").strip()
    if not raw:
        return period, None
    brand = db.session.get(Brand, int(raw)) if raw.isdigit() and len(raw) < 10 else None
    if brand is None:
        raise ValidationError(_l("Choose a brand from the list."), code="BRAND_INVALID", field="brand")
    return period, brand


@dataclass
class Report:
    period: Period
    brand: Brand | None
    daily: dict[date, ops.Day]
    conversion: ops.Conversion
    conversion_before: ops.Conversion
    lag: ops.Lag
    lag_before: ops.Lag
    cover: list[ops.Cover]
    suppliers: list[ops.SupplierFigures]
    campaigns: list[ops.CampaignFigures]

    def args(self) -> dict[str, str]:
        return {**self.period.args(), **({"brand": str(self.brand.id)} if self.brand else {})}

    def conversion_chart(self) -> dict:
        """ECharts option: views, orders and paid orders a day."""
        names = [_("Product page views"), _("Orders"), _("Paid orders")]
        days = list(self.daily)
        return {"tooltip": {"trigger": "axis"}, "legend": {"data": names},
                "xAxis": {"type": "category", "data": [d.isoformat() for d in days]},
                "yAxis": {"type": "value", "minInterval": 1},
                "series": [{"name": names[0], "type": "line", "data": [self.daily[d].views for d in days]},
                           {"name": names[1], "type": "line", "data": [self.daily[d].orders for d in days]},
                           {"name": names[2], "type": "line", "data": [self.daily[d].paid for d in days]}]}

    def supplier_chart(self) -> dict:
        """ECharts option: each supplier's success rate (%) and p50 latency (minutes)."""
        names = [_("Success rate (%)"), _("Latency p50 (minutes)")]
        return {"tooltip": {"trigger": "axis"}, "legend": {"data": names},
                "xAxis": {"type": "category", "data": [s.name for s in self.suppliers]},
                "yAxis": [{"type": "value", "max": 100}, {"type": "value"}],
                "series": [{"name": names[0], "type": "bar",
                            "data": [None if s.success_rate is None else round(s.success_rate * 100, 1)
                                     for s in self.suppliers]},
                           {"name": names[1], "type": "line", "yAxisIndex": 1,
                            "data": [s.p50_minutes for s in self.suppliers]}]}

    def cover_chart(self, n: int = 10) -> dict:
        """ECharts option: days of stock left of the n SKUs with the lowest cover."""
        low = [c for c in self.cover if c.days_left is not None][:n]
        return {"tooltip": {"trigger": "axis"}, "grid": {"containLabel": True},
                "xAxis": {"type": "value", "name": _("Days left")},
                "yAxis": {"type": "category", "inverse": True, "data": [c.sku for c in low]},
                "series": [{"name": _("Days left"), "type": "bar", "data": [c.days_left for c in low]}]}


def build(args) -> Report:
    period, brand = parse(args)
    brand_id = brand.id if brand else None
    before = period.previous()
    days = ops.daily(period, brand_id)
    return Report(period, brand, days, ops.conversion(days), ops.conversion(ops.daily(before, brand_id)),
                  ops.redemption_lag(period, brand_id), ops.redemption_lag(before, brand_id),
                  ops.stock_cover(brand_id), ops.suppliers(period, brand_id), ops.campaigns(period, brand_id))


def brands() -> list[Brand]:
    return list(db.session.scalars(sa.select(Brand).order_by(Brand.name)))


def _pct(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 2)


def sheets(r: Report) -> list[tables.Sheet]:
    c, b = r.conversion, r.conversion_before
    return [
        tables.Sheet(_("Conversion"), [_("Figure"), _("This period"), _("Previous period")], [
            [_("Product page views"), c.views, b.views],
            [_("Orders"), c.orders, b.orders],
            [_("Paid orders"), c.paid, b.paid],
            [_("Views to orders (%)"), _pct(c.view_to_order), _pct(b.view_to_order)],
            [_("Orders to paid (%)"), _pct(c.order_to_paid), _pct(b.order_to_paid)],
            [_("Views to paid (%)"), _pct(c.view_to_paid), _pct(b.view_to_paid)],
        ]),
        tables.Sheet(_("Daily"), [_("Day"), _("Product page views"), _("Orders"), _("Paid orders"), _("Units sold")],
                     [[d.isoformat(), x.views, x.orders, x.paid, x.units] for d, x in r.daily.items()]),
        tables.Sheet(_("Redemption lag"), [_("Figure"), _("This period"), _("Previous period")], [
            [_("Units delivered"), r.lag.delivered, r.lag_before.delivered],
            [_("Median (hours)"), r.lag.median_hours, r.lag_before.median_hours],
            [_("p90 (hours)"), r.lag.p90_hours, r.lag_before.p90_hours],
            [_("Never revealed or redeemed (%)"), _pct(r.lag.never_share), _pct(r.lag_before.never_share)],
        ]),
        tables.Sheet(_("Stock cover"), [_("SKU"), _("Name"), _("Sellable stock"), _("Units sold (%(n)s days)",
                                                                                    n=ops.COVER_DAYS),
                                        _("Units a day"), _("Days left")],
                     [[x.sku, x.name, x.stock, x.sold, x.per_day, x.days_left] for x in r.cover]),
        tables.Sheet(_("Suppliers"), [_("Supplier"), _("Delivered"), _("Failed"), _("Success rate (%)"),
                                      _("Latency p50 (minutes)"), _("Latency p95 (minutes)")],
                     [[s.name, s.delivered, s.failed, _pct(s.success_rate), s.p50_minutes, s.p95_minutes]
                      for s in r.suppliers]),
        tables.Sheet(_("Campaigns"), [_("Campaign"), _("Paid orders"), _("GMV"), _("Discount given")],
                     [[x.name, x.orders, x.gmv_fen, x.discount_fen] for x in r.campaigns], money={2, 3}),
    ]


def export(actor: User, args) -> tuple[str, bytes]:
    """The report as XLSX (audited: who downloaded which period)."""
    r = build(args)
    audit(actor.id, "insight.operations_export", "insight", None, **r.args())
    db.session.commit()
    name = f"operations-{r.period.first.isoformat()}-{r.period.last.isoformat()}.xlsx"
    return name, tables.to_xlsx(*sheets(r))


