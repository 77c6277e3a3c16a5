"""Points: a ledger of signed rows per member (the balance is their sum), the lots they were earned in (so
expiry knows what goes when), daily check-ins, the points mall's items and ops' settings."""

from datetime import date, datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import utcnow
from app.extensions import db


class PointsSettings(db.Model):
    """Ops' settings for points: one row (id 1), created with defaults on first read."""

    __tablename__ = "points_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Points earned per ¥1 paid in cash on a retail order (0 turns earning off).
    earn_per_yuan: Mapped[int] = mapped_column(default=1)
    #: Check-in points by streak day, day 1..7 (day 8 onwards earns day 7's), e.g. [1, 1, 2, 2, 3, 3, 5].
    checkin_points: Mapped[list] = mapped_column(sa.JSON)
    #: "year_end" (earned in year Y, expire at the end of Y+1, local time) or "days" (expiry_days after earning).
    expiry_mode: Mapped[str] = mapped_column(sa.String(16), default="year_end")
    expiry_days: Mapped[int] = mapped_column(default=365)
    #: Members hear this many days before their points expire.
    remind_days: Mapped[int] = mapped_column(default=30)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))


class PointsAccount(db.Model):
    """A member's points account: the row locked (FOR UPDATE) so one member's spends, expiries and reversals
    are serialised. No balance here: the balance is the sum of the member's PointsEntry rows."""

    __tablename__ = "points_accounts"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PointsLot(db.Model):
    """Points earned together (one order, one check-in, one grant): spent oldest first, expiring together."""

    __tablename__ = "points_lots"
    __table_args__ = (sa.CheckConstraint("remaining >= 0 AND remaining <= amount", name="ck_points_lots_remaining"),
                      sa.Index("ix_points_lots_user", "user_id", "expires_at"),
                      sa.Index("ix_points_lots_due", "expires_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    amount: Mapped[int]
    #: What is left of it: the sum of its entries (earned, less spent, expired, reversed, plus given back).
    remaining: Mapped[int]
    earned_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    #: When its owner was reminded it is expiring (one reminder per lot).
    reminded_at: Mapped[Optional[datetime]]


class PointsEntry(db.Model):
    """One movement of points on one lot: earn (+), spend (-), expire (-), reverse (-), release (+ a spend
    given back). A member's balance is the sum of their entries, and always equals their lots' `remaining`."""

    __tablename__ = "points_entries"
    __table_args__ = (sa.Index("ix_points_entries_user", "user_id", "id"),
                      sa.Index("ix_points_entries_ref", "ref_type", "ref_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("points_lots.id"))
    #: earn, checkin, grant, spend, expire, reverse, release
    kind: Mapped[str] = mapped_column(sa.String(16))
    amount: Mapped[int]
    #: Idempotency key of the movement this row belongs to (one movement may touch several lots).
    key: Mapped[str] = mapped_column(sa.String(80))
    ref_type: Mapped[Optional[str]] = mapped_column(sa.String(20))
    ref_id: Mapped[Optional[int]]
    memo: Mapped[str] = mapped_column(sa.String(200), default="")
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PointsMovement(db.Model):
    """One movement by its idempotency key (unique): a rerun of the same earn, spend or reversal finds it and
    does nothing. `shortfall` is what a reversal could not take back (already spent)."""

    __tablename__ = "points_movements"

    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    amount: Mapped[int]
    shortfall: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CheckIn(db.Model):
    """A member's daily check-in (签到): one per local day (the unique key stops a double click)."""

    __tablename__ = "points_checkins"
    __table_args__ = (sa.UniqueConstraint("user_id", "day", name="uq_points_checkins_user_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: The local (Asia/Shanghai) day.
    day: Mapped[date]
    #: Consecutive days up to this one (1 after a gap).
    streak: Mapped[int]
    points: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MallItem(db.Model):
    """An item of the points mall (积分商城): one unit of a SKU (a benefit or a benefit pack) for `points`
    points plus `cash_fen` (0: points only)."""

    __tablename__ = "points_mall_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    title: Mapped[str] = mapped_column(sa.String(120))
    points: Mapped[int]
    cash_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
