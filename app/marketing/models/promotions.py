from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import utcnow
from app.extensions import db


class OrderPromotion(db.Model):
    """One discount on one retail order, as checkout priced it: what campaign reports and the order page read."""

    __tablename__ = "order_promotions"
    __table_args__ = (sa.Index("ix_order_promotions_campaign", "campaign_id", "order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaigns.id"))
    #: "coupon", "flash_sale", "group_buy", "first_order", "cross_sell", ...
    source: Mapped[str] = mapped_column(sa.String(20))
    #: The row of `source` it came from (a buyer's coupon, a sale, a group).
    ref_id: Mapped[int | None]
    #: As the receiver gave it; the order's discount_fen is their sum, capped so the buyer pays at least 1 fen.
    discount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    label: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
