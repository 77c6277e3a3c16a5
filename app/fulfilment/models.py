from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.models import Sku
from app.core.ids import utcnow
from app.extensions import db


class EntitlementStatus(StrEnum):
    unused = "unused"
    used = "used"
    expired = "expired"


E = EntitlementStatus
ENTITLEMENT_TRANSITIONS = {
    E.unused: frozenset({E.used, E.expired}),
}


class Entitlement(db.Model):
    """One delivered unit owned by a user: what the benefit center lists."""

    __tablename__ = "entitlements"
    __table_args__ = (sa.Index("ix_entitlements_owner", "owner_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    #: Unique: the database itself refuses a second delivery of the same code.
    code_id: Mapped[int | None] = mapped_column(sa.ForeignKey("codes.id"), unique=True)
    status: Mapped[str] = mapped_column(sa.String(10), default=EntitlementStatus.unused)
    valid_until: Mapped[datetime | None] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
    reveal_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    sku: Mapped[Sku] = relationship()
