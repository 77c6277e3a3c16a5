"""Daily sales roll-ups (docs/insight.md): one row per local day × channel × SKU, a compact buyer-day table for
distinct paying users and repeat purchases over any range, and the days the job has rolled up."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import utcnow
from app.extensions import db


class DailySales(db.Model):
    """What one local (platform time zone) day sold in one channel of one SKU. Each event counts on the day it
    happened: a payment on its paid_at day, a refund on the day the refund was booked."""

    __tablename__ = "insight_daily_sales"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    #: retail, reseller, enterprise or points_mall (a retail order paid with points-mall points).
    channel: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"), primary_key=True)
    #: The SKU's brand when rolled up (filtering by brand needs no join).
    brand_id: Mapped[int] = mapped_column(sa.ForeignKey("brands.id"), index=True)
    #: Sum of paid orders' amount_fen (what buyers paid, wallet part included), on their paid_at day.
    gmv_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    paid_orders: Mapped[int] = mapped_column(default=0)
    units: Mapped[int] = mapped_column(default=0)
    discount_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: Refunded to buyers that day (gateway, wallet, reseller or enterprise balance), whatever day it was paid.
    refund_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: Orders with a refund booked that day.
    refunds: Mapped[int] = mapped_column(default=0)


class BuyerDay(db.Model):
    """A buyer who paid that day, per channel and brand, and how many orders: distinct users are not additive
    across days, so ranges count them from this table."""

    __tablename__ = "insight_buyer_days"
    #: Covering: a range of days is counted from the index alone (PostgreSQL: an index-only scan).
    __table_args__ = (sa.Index("ix_insight_buyer_days_cover", "day", "channel", "brand_id", "buyer", "orders"),)

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    brand_id: Mapped[int] = mapped_column(primary_key=True)
    #: "u<user id>", or "r<reseller id>" for a reseller's API order (no console user).
    buyer: Mapped[str] = mapped_column(sa.String(24), primary_key=True)
    orders: Mapped[int] = mapped_column(default=0)


class RolledDay(db.Model):
    """A day the roll-up job has written (days without a row are computed straight from the orders). Its row is
    also the lock two roll-ups of the same day take in turn."""

    __tablename__ = "insight_rolled_days"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    built_at: Mapped[datetime] = mapped_column(default=utcnow)
