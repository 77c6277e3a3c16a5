"""Offers: the first-order discount, spend-and-get gifts and cross-sell (computed pairs and ops pins)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.models import Sku
from app.core.ids import utcnow
from app.extensions import db
from app.marketing.models.campaigns import Campaign


class FirstOrderOffer(db.Model):
    """新人首单: taken off automatically at checkout for a buyer with no paid retail order yet."""

    __tablename__ = "first_order_offers"
    __table_args__ = (
        sa.CheckConstraint("(kind = 'amount' AND amount_fen > 0) OR (kind = 'percent' AND percent > 0 "
                           "AND percent < 100)", name="kind_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    #: "amount": amount_fen off; "percent": percent off the list amount, at most cap_fen when set.
    kind: Mapped[str] = mapped_column(sa.String(10))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    percent: Mapped[int] = mapped_column(default=0, server_default="0")
    cap_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: The SKUs it applies to; None: every retail SKU.
    sku_ids: Mapped[list | None] = mapped_column(sa.JSON)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[Campaign] = relationship()


class FirstOrderClaim(db.Model):
    """The one order of a buyer that holds the first-order price: taken at checkout (the primary key makes a
    second one impossible), deleted if that order closes unpaid, kept for good once it is paid."""

    __tablename__ = "first_order_claims"

    buyer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    offer_id: Mapped[int] = mapped_column(sa.ForeignKey("first_order_offers.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GiftOffer(db.Model):
    """满赠: an order of the trigger SKU, or of at least threshold_fen (list amount), gets one unit of gift_sku."""

    __tablename__ = "gift_offers"
    __table_args__ = (
        sa.CheckConstraint("trigger_sku_id IS NOT NULL OR threshold_fen IS NOT NULL", name="has_trigger"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    trigger_sku_id: Mapped[int | None] = mapped_column(sa.ForeignKey("skus.id"))
    threshold_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    gift_sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[Campaign] = relationship()
    trigger_sku: Mapped[Sku | None] = relationship(foreign_keys=[trigger_sku_id])
    gift_sku: Mapped[Sku] = relationship(foreign_keys=[gift_sku_id])


class GiftStatus:
    #: A code of the gift SKU is reserved for the order (under the order's id).
    reserved = "reserved"
    #: None was left at checkout: the order went ahead without it.
    none_left = "none_left"
    #: The order closed unpaid: its code went back to stock with the order's.
    released = "released"
    delivered = "delivered"
    #: The order was refunded: the gift's benefit is revoked and its revenue reversed.
    taken_back = "taken_back"


class OrderGift(db.Model):
    """One gift of one order, from checkout to delivery (and take-back)."""

    __tablename__ = "order_gifts"
    __table_args__ = (sa.UniqueConstraint("order_id", "offer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    offer_id: Mapped[int] = mapped_column(sa.ForeignKey("gift_offers.id"))
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"))
    gift_sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    #: The gift's list value: booked to revenue and, the same amount, to sales discounts.
    value_fen: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(12))
    delivery_id: Mapped[int | None] = mapped_column(sa.ForeignKey("deliveries.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    gift_sku: Mapped[Sku] = relationship()


class CrossSellPin(db.Model):
    """Ops pins `recommended_sku` on `anchor_sku`'s recommendations (pins come first, by position), optionally
    with a cross-sell price: a buyer of the anchor in the last 24 hours gets one unit at that price, once."""

    __tablename__ = "cross_sell_pins"
    __table_args__ = (sa.UniqueConstraint("anchor_sku_id", "recommended_sku_id"),
                      sa.CheckConstraint("anchor_sku_id <> recommended_sku_id", name="not_itself"))

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    anchor_sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    recommended_sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    position: Mapped[int] = mapped_column(default=0, server_default="0")
    price_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[Campaign] = relationship()
    anchor_sku: Mapped[Sku] = relationship(foreign_keys=[anchor_sku_id])
    recommended_sku: Mapped[Sku] = relationship(foreign_keys=[recommended_sku_id])


class CrossSellUse(db.Model):
    """A buyer's one use of a pin's cross-sell price: taken at checkout, deleted if that order closes unpaid."""

    __tablename__ = "cross_sell_uses"
    __table_args__ = (sa.UniqueConstraint("pin_id", "buyer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pin_id: Mapped[int] = mapped_column(sa.ForeignKey("cross_sell_pins.id"))
    buyer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Recommendation(db.Model):
    """"Often bought together", rewritten by the periodic job: how many buyers bought both, best first."""

    __tablename__ = "sku_recommendations"

    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"), primary_key=True)
    recommended_sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"), primary_key=True)
    buyers: Mapped[int]
    rank: Mapped[int]
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
