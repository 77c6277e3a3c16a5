from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.models import Sku
from app.core.ids import utcnow
from app.extensions import db


class Supplier(db.Model):
    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Short stable code, part of the callback URL (`/supplier/callback/<code>`).
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    #: Key of app.suppliers.adapters.ADAPTERS.
    adapter: Mapped[str] = mapped_column(sa.String(20))
    base_url: Mapped[str] = mapped_column(sa.String(300))
    #: Our partner id at the supplier.
    partner_id: Mapped[str] = mapped_column(sa.String(64))
    data_key_id: Mapped[int] = mapped_column(sa.ForeignKey("data_keys.id"))
    #: nonce ‖ AES-256-GCM(signing key) under data_key_id; shown to nobody once saved.
    key_ct: Mapped[bytes] = mapped_column(sa.LargeBinary)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    mappings: Mapped[list["SupplierProduct"]] = relationship(back_populates="supplier",
                                                            order_by="SupplierProduct.priority")


class SupplierProduct(db.Model):
    """A SKU as one supplier sells it. A SKU's mappings, by priority, are its failover order."""

    __tablename__ = "supplier_products"
    __table_args__ = (
        sa.UniqueConstraint("supplier_id", "sku_id"),
        sa.CheckConstraint("cost_fen >= 0", name="cost_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(sa.ForeignKey("suppliers.id"))
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"), index=True)
    #: The supplier's own product id.
    product_id: Mapped[str] = mapped_column(sa.String(64))
    cost_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: Lower is tried first.
    priority: Mapped[int] = mapped_column(default=10)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    supplier: Mapped[Supplier] = relationship(back_populates="mappings")
    sku: Mapped[Sku] = relationship()


class ReplenishmentStatus(StrEnum):
    queued = "queued"
    accepted = "accepted"
    done = "done"
    failed = "failed"


R = ReplenishmentStatus
REPLENISHMENT_TRANSITIONS = {
    R.queued: frozenset({R.accepted, R.done, R.failed}),
    R.accepted: frozenset({R.done, R.failed}),
}


class Replenishment(db.Model):
    """A purchase of card codes from a supplier into our own stock, keyed upstream by out_order_no."""

    __tablename__ = "replenishments"
    __table_args__ = (sa.Index("ix_replenishments_sku_status", "sku_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    supplier_id: Mapped[int] = mapped_column(sa.ForeignKey("suppliers.id"))
    out_order_no: Mapped[str] = mapped_column(sa.String(64), unique=True)
    quantity: Mapped[int]
    cost_fen: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(10), default=ReplenishmentStatus.queued)
    attempts: Mapped[int] = mapped_column(default=0)
    imported: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
