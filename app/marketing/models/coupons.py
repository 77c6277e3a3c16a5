"""Coupons (优惠券): a template ops sets up in a campaign, its pre-numbered slots (one row per coupon the template
may ever issue, so the total can never be overissued and no counter row is hot), and exchange codes."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.ids import utcnow
from app.extensions import db
from app.marketing.models.campaigns import Campaign


class CouponKind(StrEnum):
    #: 立减: amount_fen off.
    amount = "amount"
    #: 满减: amount_fen off from threshold_fen (the order's list amount).
    threshold = "threshold"
    #: 折扣: off_bp basis points off, at most cap_fen.
    percent = "percent"


class CouponScope(StrEnum):
    all = "all"
    brands = "brands"
    products = "products"
    skus = "skus"


class TemplateStatus(StrEnum):
    active = "active"
    #: No more claims, grants or codes; coupons already held stay usable until their own end.
    stopped = "stopped"


class CouponStatus(StrEnum):
    #: A numbered slot nobody holds yet.
    free = "free"
    available = "available"
    used = "used"
    expired = "expired"


C = CouponStatus
COUPON_TRANSITIONS = {
    C.available: frozenset({C.used, C.expired}),
    C.used: frozenset({C.available, C.expired}),
}

TEMPLATE_TRANSITIONS = {TemplateStatus.active: frozenset({TemplateStatus.stopped}),
                        TemplateStatus.stopped: frozenset({TemplateStatus.active})}


class CouponTemplate(db.Model):
    __tablename__ = "coupon_templates"
    __table_args__ = (
        sa.CheckConstraint("total_quantity > 0 AND per_user_limit > 0", name="limits_positive"),
        sa.CheckConstraint("(valid_until IS NOT NULL) OR (valid_days IS NOT NULL)", name="has_validity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    kind: Mapped[str] = mapped_column(sa.String(20))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    threshold_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    off_bp: Mapped[int] = mapped_column(default=0, server_default="0")
    cap_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    #: 新人券: only for a buyer without a paid retail order.
    new_user_only: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    scope: Mapped[str] = mapped_column(sa.String(20), default=CouponScope.all)
    #: Brand, product or SKU ids, by `scope`.
    scope_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    #: A fixed window (valid_from may be None: from the claim) ...
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    #: ... or N days after claiming.
    valid_days: Mapped[int | None]
    total_quantity: Mapped[int]
    per_user_limit: Mapped[int] = mapped_column(default=1, server_default="1")
    #: Listed in the claim centre (领券中心).
    claimable: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    #: Given to every consumer when their account is created.
    grant_at_signup: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    status: Mapped[str] = mapped_column(sa.String(20), default=TemplateStatus.active)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[Campaign] = relationship()


class Coupon(db.Model):
    """One of a template's numbered coupons: a free slot until someone claims it, then theirs."""

    __tablename__ = "coupons"
    __table_args__ = (
        sa.UniqueConstraint("template_id", "serial", name="uq_coupons_serial"),
        # The n-th coupon a user holds of a template: two claims at once by one user cannot pass the limit.
        sa.UniqueConstraint("template_id", "holder_id", "holder_seq", name="uq_coupons_holder_seq"),
        # A grant (bulk, at sign-up) gives a user at most one coupon of a template, however often it runs.
        sa.UniqueConstraint("template_id", "granted_to", name="uq_coupons_granted_to"),
        sa.Index("ix_coupons_free", "template_id", "status"),
        sa.Index("ix_coupons_holder", "holder_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("coupon_templates.id"))
    serial: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(20), default=CouponStatus.free)
    holder_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    holder_seq: Mapped[int | None]
    granted_to: Mapped[int | None]
    #: claim, grant, signup, code
    source: Mapped[str | None] = mapped_column(sa.String(20))
    claimed_at: Mapped[datetime | None]
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    used_at: Mapped[datetime | None]

    template: Mapped[CouponTemplate] = relationship()


class ExchangeCode(db.Model):
    """A 兑换码: sealed like a card code (the export decrypts it), found by its keyed hash."""

    __tablename__ = "coupon_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("coupon_templates.id"), index=True)
    batch: Mapped[int]
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    data_key_id: Mapped[int] = mapped_column(sa.ForeignKey("data_keys.id"))
    code_ct: Mapped[bytes] = mapped_column(sa.LargeBinary)
    redeemed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    redeemed_at: Mapped[datetime | None]
    coupon_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupons.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
