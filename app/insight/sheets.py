"""The dashboard's figures and tables as XLSX sheets (money in fen, written as yuan; ratios as fractions)."""

from flask_babel import lazy_gettext as _l

from app.core.tables import Sheet
from app.insight.sales import CHANNEL_LABELS, Figures, Ranked, change, headline

TABLES = ("figures", "channels", "skus", "brands", "daily")


def _ratio(v):
    return None if v is None else round(v, 4)


def _cell(key: str, v):
    """Money (fen) as yuan, ratios to 4 places, counts as they are: one column holds every kind of figure."""
    if v is None:
        return None
    return v / 100 if key.endswith("_fen") else _ratio(v) if key.endswith("rate") else v


def figures_sheet(fig: Figures) -> Sheet:
    rows = [[label, _cell(key, value), _cell(key, before), _ratio(change(value, before))]
            for key, label, value, before in headline(fig)]
    return Sheet(str(_l("Figures")), [str(_l("Figure")), str(_l("This period")), str(_l("Previous period")),
                                      str(_l("Change"))], rows)


def channels_sheet(fig: Figures) -> Sheet:
    rows = [[str(CHANNEL_LABELS.get(ch, ch)), t.gmv_fen, t.paid_orders, t.paying_users, t.units, t.discount_fen,
             t.refund_fen, t.refunds, _ratio(t.repeat_rate)] for ch, t in fig.by_channel.items()]
    return Sheet(str(_l("By channel")), [str(_l("Channel")), str(_l("GMV")), str(_l("Paid orders")),
                                         str(_l("Paying users")), str(_l("Units")), str(_l("Discount")),
                                         str(_l("Refunds")), str(_l("Refunded orders")),
                                         str(_l("Repeat purchase rate"))], rows, money={1, 5, 6})


def _ranked(name: str, first: str, ranked: list[Ranked]) -> Sheet:
    return Sheet(name, [first, str(_l("GMV")), str(_l("Paid orders")), str(_l("Units"))],
                 [[r.name, r.gmv_fen, r.paid_orders, r.units] for r in ranked], money={1})


def daily_sheet(fig: Figures) -> Sheet:
    return Sheet(str(_l("Daily")), [str(_l("Day")), str(_l("GMV")), str(_l("Paid orders")), str(_l("Discount")),
                                    str(_l("Refunds"))],
                 [[d.day.isoformat(), d.gmv_fen, d.paid_orders, d.discount_fen, d.refund_fen] for d in fig.daily],
                 money={1, 3, 4})


def sheets(fig: Figures, table: str | None = None) -> list[Sheet]:
    """One table's sheet, or every sheet (table None)."""
    make = {"figures": figures_sheet, "channels": channels_sheet, "daily": daily_sheet,
            "skus": lambda f: _ranked(str(_l("Top SKUs")), str(_l("SKU")), f.top_skus),
            "brands": lambda f: _ranked(str(_l("Top brands")), str(_l("Brand")), f.top_brands)}
    return [make[t](fig) for t in ([table] if table else TABLES)]
