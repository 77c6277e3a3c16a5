"""Benefit packs: a fixed set of SKUs, or one of N for the employee to choose."""

from datetime import datetime
from enum import StrEnum
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.models import Sku
from app.core.ids import utcnow
from app.extensions import db


class PackKind(StrEnum):
    #: Every item, each employee.
    fixed = "fixed"
    #: The employee picks one of the items (the brand).
    choice = "choice"


class Pack(db.Model):
    __tablename__ = "packs"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    kind: Mapped[str] = mapped_column(sa.String(10), default=PackKind.fixed)
    description: Mapped[str] = mapped_column(sa.String(300), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    items: Mapped[list["PackItem"]] = relationship(order_by="PackItem.position, PackItem.id",
                                                   cascade="all, delete-orphan")


class PackItem(db.Model):
    __tablename__ = "pack_items"
    __table_args__ = (
        sa.UniqueConstraint("pack_id", "sku_id"),
        sa.CheckConstraint("quantity >= 1", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pack_id: Mapped[int] = mapped_column(sa.ForeignKey("packs.id"), index=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    #: Units per employee (a choice pack's options are one unit each).
    quantity: Mapped[int] = mapped_column(default=1)
    position: Mapped[int] = mapped_column(default=0)

    sku: Mapped[Sku] = relationship()
