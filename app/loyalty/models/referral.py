"""Consumer referral (推广员, 分销): promoters, their clicks, the per-SKU commission rates ops set, the order a
promoter referred (or was refused), its commission, and withdrawals of what a promoter earned."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.models import Sku
from app.core.ids import utcnow
from app.extensions import db


class Promoter(db.Model):
    """A consumer who accepted the promoter terms; `code` is what share links carry."""

    __tablename__ = "promoters"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    #: Short, random, unguessable from the user id (A–Z and digits without look-alikes).
    code: Mapped[str] = mapped_column(sa.String(12), unique=True)
    #: The version of the terms accepted (docs/loyalty-referral.md).
    terms_version: Mapped[str] = mapped_column(sa.String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PromoterDevice(db.Model):
    """A risk-control device id (app/risk/client.py) a promoter used while signed in: an order placed from one
    of them earns the promoter nothing (referral within one device)."""

    __tablename__ = "promoter_devices"
    __table_args__ = (sa.UniqueConstraint("promoter_id", "device"), sa.Index("ix_promoter_devices_device", "device"))

    id: Mapped[int] = mapped_column(primary_key=True)
    promoter_id: Mapped[int] = mapped_column(sa.ForeignKey("promoters.id"))
    device: Mapped[str] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReferralClick(db.Model):
    """A visit through a share link, counted once per promoter, SKU, device and day (a reload or a bot hammering
    the link adds nothing), and at most REFERRAL_CLICKS_PER_IP_DAY a day from one IP."""

    __tablename__ = "referral_clicks"
    __table_args__ = (
        sa.UniqueConstraint("promoter_id", "sku_id", "visitor", "day"),
        sa.Index("ix_referral_clicks_promoter", "promoter_id", "id"),
        sa.Index("ix_referral_clicks_ip_day", "ip_hash", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    promoter_id: Mapped[int] = mapped_column(sa.ForeignKey("promoters.id"))
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    #: The visitor's risk-control device id (already a hash; never the raw cookie).
    visitor: Mapped[str] = mapped_column(sa.String(40))
    #: SHA-256 of the IP with the app's secret, cut short: enough to limit by, useless to find a person.
    ip_hash: Mapped[str] = mapped_column(sa.String(16))
    #: UTC date "YYYY-MM-DD" the click counts for.
    day: Mapped[str] = mapped_column(sa.String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReferralRate(db.Model):
    """The commission ops pay on a SKU, in basis points of what the buyer paid (500 = 5%)."""

    __tablename__ = "referral_rates"

    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"), primary_key=True)
    rate_bp: Mapped[int]
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    sku: Mapped[Sku] = relationship()


class ReferralOutcome(StrEnum):
    attributed = "attributed"
    #: The buyer is the promoter (self-referral).
    refused_self = "refused_self"
    #: The order came from a device the promoter uses.
    refused_device = "refused_device"


class Referral(db.Model):
    """An order placed by a visitor a promoter's link brought in (last click within REFERRAL_ATTRIBUTION_DAYS),
    written at checkout with the outcome: attributed, or refused and why."""

    __tablename__ = "referrals"
    __table_args__ = (sa.Index("ix_referrals_promoter", "promoter_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
    promoter_id: Mapped[int] = mapped_column(sa.ForeignKey("promoters.id"))
    outcome: Mapped[str] = mapped_column(sa.String(20))
    #: When the visitor clicked the link that won (the last one).
    clicked_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CommissionStatus(StrEnum):
    pending = "pending"
    available = "available"
    cancelled = "cancelled"


C = CommissionStatus
COMMISSION_TRANSITIONS = {C.pending: frozenset({C.available, C.cancelled})}


class Commission(db.Model):
    """What a promoter earns on a paid referred order: pending until the refund window has passed (then paid
    into the promoter's balance, once), cancelled by a refund inside the window."""

    __tablename__ = "referral_commissions"
    __table_args__ = (
        sa.Index("ix_referral_commissions_promoter", "promoter_id", "id"),
        sa.Index("ix_referral_commissions_status_due", "status", "due_at"),
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
    promoter_id: Mapped[int] = mapped_column(sa.ForeignKey("promoters.id"))
    #: What the buyer paid, and the rate at the time of payment: amount = base × rate / 10000, rounded down.
    base_fen: Mapped[int] = mapped_column(sa.BigInteger)
    rate_bp: Mapped[int]
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(10), default=CommissionStatus.pending)
    #: The end of the refund window: the job makes it available after this.
    due_at: Mapped[datetime]
    available_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    #: Why it was cancelled (the promoter reads it).
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WithdrawalStatus(StrEnum):
    requested = "requested"
    paid = "paid"
    rejected = "rejected"


W = WithdrawalStatus
WITHDRAWAL_TRANSITIONS = {W.requested: frozenset({W.paid, W.rejected})}


class Withdrawal(db.Model):
    """A promoter's request to take earned commission out to the bank: the amount leaves the balance when asked
    (held in 2242), finance staff pay it (to 1002) or reject it with a reason (it goes back)."""

    __tablename__ = "referral_withdrawals"
    __table_args__ = (
        sa.Index("ix_referral_withdrawals_status", "status", "id"),
        sa.Index("ix_referral_withdrawals_promoter", "promoter_id", "id"),
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    promoter_id: Mapped[int] = mapped_column(sa.ForeignKey("promoters.id"))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: Where to pay it (the promoter's bank account as typed; shown to finance only).
    account: Mapped[str] = mapped_column(sa.String(100))
    status: Mapped[str] = mapped_column(sa.String(10), default=WithdrawalStatus.requested)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    #: Finance's reason for a rejection (the promoter reads it).
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    promoter: Mapped[Promoter] = relationship()
