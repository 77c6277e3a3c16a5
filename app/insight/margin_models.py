"""The margin report's daily roll-up (app/insight/margin.py): the books' revenue, discount, cost and revenue
share per local day and per SKU, channel, supplier and reseller, kept by a periodic job."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import utcnow
from app.extensions import db


class MarginDaily(db.Model):
    """One local day's figures for one (SKU, channel, supplier, reseller). 0 / "" mean none: a posting that
    belongs to no order (a hand adjustment), a unit from our own stock, an order that is not a reseller's."""

    __tablename__ = "margin_daily"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    sku_id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    supplier_id: Mapped[int] = mapped_column(primary_key=True)
    reseller_id: Mapped[int] = mapped_column(primary_key=True)
    #: The SKU's brand when the day was rolled up (0: no SKU).
    brand_id: Mapped[int] = mapped_column()
    #: −Σ 6001 sales revenue (list value of the units recognised, less what was reversed).
    revenue_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: Σ 6003 sales discounts.
    discount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: Σ 6401 cost of sales (supplier purchases).
    cost_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: Σ 6402 revenue shares of joint memberships.
    share_fen: Mapped[int] = mapped_column(sa.BigInteger)


class MarginDay(db.Model):
    """A local day whose roll-up rows are built; a day not here is computed live from the books."""

    __tablename__ = "margin_days"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    built_at: Mapped[datetime] = mapped_column(default=utcnow)
