"""Daily roll-ups behind the dashboard's operations figures (app/insight/operations.py), and the indexes those
figures read the domains below by.

The day tables hold one row per (local day, SKU), for days before today only: today is always computed live."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.fulfilment.models import Delivery, Entitlement
from app.orders.models import Order


class ProductViewDay(db.Model):
    """Product page views of a SKU on a day, folded from the Redis counters (app/insight/pageviews.py)."""

    __tablename__ = "insight_product_views"

    day: Mapped[date] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"), primary_key=True)
    #: Distinct visitors who opened the SKU's page that day (a visitor counts once a day per SKU).
    views: Mapped[int] = mapped_column(default=0)


class SkuDay(db.Model):
    """What a SKU sold on a day, recomputed from the orders by `operations.rollup` (a rerun rewrites the same)."""

    __tablename__ = "insight_sku_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"), primary_key=True)
    #: Retail orders placed that day (created_at), paid or not.
    orders: Mapped[int] = mapped_column(default=0)
    #: Retail orders paid that day (paid_at), whatever happened to them after.
    paid_orders: Mapped[int] = mapped_column(default=0)
    #: Units of orders of every channel paid that day: the sales rate stock cover divides by.
    paid_units: Mapped[int] = mapped_column(default=0)


class LagDay(db.Model):
    """The units of a SKU delivered on a day, by how long they took to be first revealed or redeemed, as that stood
    at the cutoff (`LagCutoff`); written by `lag.roll_day`, a rerun writes the same (app/insight/lag.py)."""

    __tablename__ = "insight_lag_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"), primary_key=True)
    #: Units delivered that day (gift units left out).
    delivered: Mapped[int] = mapped_column(default=0)
    #: Of those, units neither revealed nor redeemed before the cutoff.
    never: Mapped[int] = mapped_column(default=0)
    #: The others by lag bucket (`lag.bucket`): {"<bucket>": units}, buckets with no unit left out.
    buckets: Mapped[dict] = mapped_column(sa.JSON, default=dict)


class LagCutoff(db.Model):
    """One row: the moment every `LagDay` row counts reveals and redemptions before. Later ones are read live."""

    __tablename__ = "insight_lag_cutoff"

    id: Mapped[int] = mapped_column(primary_key=True)
    revealed_before: Mapped[datetime]


# The figures read moments in a period; without these each would scan its whole table (orders.paid_at has its
# index in app/orders/models.py, for the sales roll-ups).
sa.Index("ix_orders_created_at", Order.created_at)
sa.Index("ix_deliveries_delivered_at", Delivery.delivered_at)
# Redemptions since the lag cutoff are read live (reveals since it by the audit log's created_at index).
sa.Index("ix_entitlements_used_at", Entitlement.used_at)
