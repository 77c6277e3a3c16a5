from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.ids import utcnow
from app.extensions import db

#: The most units one buyer may hold in one sale (the Redis gate keeps a buyer's slots as bits of one integer).
MAX_PER_USER = 20


class FlashSale(db.Model):
    """A flash sale (秒杀): `quota` units of a SKU at `price_fen`, between two instants, at most `per_user_limit`
    per buyer. Its units are rows of flash_units; Redis only turns the rush away in front of them."""

    __tablename__ = "flash_sales"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="window_ordered"),
        sa.CheckConstraint("quota >= 1", name="quota_positive"),
        sa.CheckConstraint(f"per_user_limit BETWEEN 1 AND {MAX_PER_USER}", name="limit_range"),
        sa.CheckConstraint("price_fen >= 1", name="price_positive"),
        # What each held unit points at, so the unit's own CHECKs can compare with the sale's quota and limit.
        sa.UniqueConstraint("id", "quota", "per_user_limit", name="uq_flash_sales_bounds"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"), index=True)
    #: What the buyer pays per unit; the discount is the SKU's list price less this.
    price_fen: Mapped[int] = mapped_column(sa.BigInteger)
    quota: Mapped[int]
    per_user_limit: Mapped[int]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    #: Set when ops stops the sale early: nothing more is sold.
    stopped_at: Mapped[datetime | None]
    #: Names the sale's keys in Redis; a new one on every edit, so stale keys of an older setup are never read.
    gate_key: Mapped[str] = mapped_column(sa.String(32))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign = relationship("Campaign", lazy="joined")
    sku = relationship("Sku", lazy="joined")

    def state_at(self, now: datetime) -> str:
        """upcoming, live, ended or stopped (sold out is the gate's to say)."""
        if self.stopped_at is not None:
            return "stopped"
        if now < self.starts_at:
            return "upcoming"
        return "live" if now < self.ends_at else "ended"


class FlashUnit(db.Model):
    """One unit of a sale held by an order: the database's own proof that nothing is oversold. A unit is its
    `serial` (1..quota, once per sale) and its buyer's slot `n` (1..limit, once per buyer and sale); the
    sale's quota and limit are copied in under a foreign key to the sale's (id, quota, limit), so the CHECKs
    hold whatever Redis says. An unpaid order that closes deletes its row: serial and slot are free again."""

    __tablename__ = "flash_units"
    __table_args__ = (
        sa.UniqueConstraint("sale_id", "serial", name="uq_flash_units_serial"),
        sa.UniqueConstraint("sale_id", "buyer_id", "n", name="uq_flash_units_slot"),
        sa.ForeignKeyConstraint(["sale_id", "quota", "per_user_limit"],
                                ["flash_sales.id", "flash_sales.quota", "flash_sales.per_user_limit"],
                                name="fk_flash_units_sale_bounds"),
        sa.CheckConstraint("serial BETWEEN 1 AND quota", name="serial_in_quota"),
        sa.CheckConstraint("n BETWEEN 1 AND per_user_limit", name="slot_in_limit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(sa.ForeignKey("flash_sales.id"))
    serial: Mapped[int]
    buyer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: The buyer's slot in this sale (1..per_user_limit).
    n: Mapped[int]
    quota: Mapped[int]
    per_user_limit: Mapped[int]
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
