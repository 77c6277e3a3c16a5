"""Member levels (会员等级) and growth value (成长值): ops-defined levels, what each unlocks (member prices,
exclusive SKUs, a monthly coupon), the growth ledger, each member's level and the monthly gifts given."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import utcnow
from app.extensions import db


class LevelSettings(db.Model):
    """The one row (id 1) of level-wide settings. `version` goes up on every change to levels or what they
    unlock, so each process knows when its cached copy is stale (read with the buyer's level in one query)."""

    __tablename__ = "level_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    #: Growth value earned per yuan paid, in hundredths (100: one point per yuan).
    growth_per_yuan_pct: Mapped[int] = mapped_column(default=100, server_default="100")


class MemberLevel(db.Model):
    """A level: a member whose growth value (over the window, LEVEL_WINDOW_DAYS) reaches `threshold` holds it."""

    __tablename__ = "member_levels"
    __table_args__ = (
        sa.CheckConstraint("threshold >= 0", name="threshold_nonneg"),
        sa.CheckConstraint("discount_bp > 0 AND discount_bp <= 10000", name="discount_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40), unique=True)
    #: A short badge shown next to the name ("V1", "金", "💎").
    badge: Mapped[str] = mapped_column(sa.String(8), default="", server_default="")
    threshold: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    #: The member price as a share of the list price in basis points: 9500 is 95%, 10000 no discount.
    discount_bp: Mapped[int] = mapped_column(default=10000, server_default="10000")
    #: The marketing coupon template given to each member of the level once a month (None: no gift).
    gift_template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon_templates.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LevelSkuRule(db.Model):
    """What a level unlocks on one SKU: a member price, and/or the SKU being exclusive to this level and above."""

    __tablename__ = "level_sku_rules"
    __table_args__ = (sa.UniqueConstraint("level_id", "sku_id", name="uq_level_sku_rules"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    level_id: Mapped[int] = mapped_column(sa.ForeignKey("member_levels.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"), index=True)
    #: The unit price members of this level (and above) pay; None: the level's discount applies.
    price_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: Only members at this level or above may see and buy the SKU.
    exclusive: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


class GrowthEntry(db.Model):
    """One row of the growth ledger: an earn (a paid order), a reversal (its refund) or an audited manual
    adjustment. A member's growth value is the sum of the rows whose `counts_at` is inside the window."""

    __tablename__ = "growth_entries"
    __table_args__ = (sa.Index("ix_growth_entries_user", "user_id", "counts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: "earn", "reversal" or "adjust".
    kind: Mapped[str] = mapped_column(sa.String(10))
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    #: The source event ("order:12:earn", "refund:R…"): a retried event finds it taken and adds nothing.
    key: Mapped[str] = mapped_column(sa.String(120), unique=True)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    #: When the row counts for the window: a reversal counts when its earn did, so they leave it together.
    counts_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MemberStatus(db.Model):
    """A member's level as last decided: raised at once, lowered by the job only after the announced date."""

    __tablename__ = "member_status"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    level_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member_levels.id", ondelete="SET NULL"))
    since: Mapped[datetime] = mapped_column(default=utcnow)
    #: The announced downgrade date (None: none pending); the level stays until then.
    downgrade_at: Mapped[datetime | None]
    #: Growth value still needed by `downgrade_at` to keep the level, as announced.
    shortfall: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LevelGift(db.Model):
    """A level's monthly coupon given to one member for one month (the key makes a rerun give nothing)."""

    __tablename__ = "level_gifts"
    __table_args__ = (sa.UniqueConstraint("user_id", "month", name="uq_level_gifts_month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: "2026-12".
    month: Mapped[str] = mapped_column(sa.String(7))
    level_id: Mapped[int] = mapped_column(sa.ForeignKey("member_levels.id", ondelete="CASCADE"))
    coupon_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupons.id"))
    #: Why no coupon was given ("gone", "limit"), when none was.
    skipped: Mapped[str] = mapped_column(sa.String(20), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
