"""Auto-renewing subscriptions (自动续费, 周期购): ops' plans, members' subscriptions (each backed by a withholding
agreement at the gateway), and one row per charge attempt (the history of periods)."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.catalog.models import Sku
from app.core.ids import utcnow
from app.extensions import db


class SubscriptionPlan(db.Model):
    """A monthly or quarterly plan for a membership SKU; each period buys one unit of it."""

    __tablename__ = "subscription_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    #: 1 (monthly) or 3 (quarterly).
    period_months: Mapped[int] = mapped_column(sa.SmallInteger)
    price_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: The member is reminded this many days before each renewal charge.
    reminder_days: Mapped[int] = mapped_column(sa.SmallInteger, default=3)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    sku: Mapped[Sku] = relationship()


class SubscriptionStatus(StrEnum):
    signing = "signing"  # waiting for the member to sign the agreement at the gateway
    active = "active"
    charging = "charging"  # a charge of the agreement is in flight: a cancel waits for it to settle
    retrying = "retrying"  # the last charge failed; the next try is at next_charge_at
    suspended = "suspended"  # every retry failed: no more charges; the member can only cancel
    cancelled = "cancelled"


S = SubscriptionStatus
SUBSCRIPTION_TRANSITIONS = {
    S.signing: frozenset({S.active, S.cancelled}),
    S.active: frozenset({S.charging, S.cancelled}),
    S.retrying: frozenset({S.charging, S.cancelled}),
    S.charging: frozenset({S.active, S.retrying, S.suspended, S.cancelled}),
    S.suspended: frozenset({S.cancelled}),
}
#: A member holds at most one of these per plan.
LIVE = (S.signing, S.active, S.charging, S.retrying, S.suspended)


class Subscription(db.Model):
    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("subscription_plans.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(12), default=S.signing)
    #: Ours, sent to the gateway when asking for the agreement (external_agreement_no).
    external_no: Mapped[str] = mapped_column(sa.String(40), unique=True)
    #: The gateway's agreement number, known once it is signed.
    agreement_no: Mapped[str | None] = mapped_column(sa.String(64))
    #: Periods paid so far; the next charge is for period periods_paid + 1.
    periods_paid: Mapped[int] = mapped_column(default=0)
    #: Failed attempts for the coming period (reset when one succeeds).
    failures: Mapped[int] = mapped_column(default=0)
    #: When the first period was charged: period n is due anchor + (n - 1) × period_months.
    anchor_at: Mapped[datetime | None]
    next_charge_at: Mapped[datetime | None] = mapped_column(index=True)
    #: The subscription_charges row in flight while charging (a rerun resumes it with its out_trade_no).
    charge_id: Mapped[int | None]
    charging_since: Mapped[datetime | None]
    #: The last period a reminder went out for.
    reminded_period: Mapped[int] = mapped_column(default=0)
    cancelled_at: Mapped[datetime | None]
    #: Set once the gateway confirmed the agreement is unsigned (the cancel's outbox until then).
    unsigned_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    plan: Mapped[SubscriptionPlan] = relationship()
    user: Mapped[User] = relationship()


class ChargeStatus(StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"


class SubscriptionCharge(db.Model):
    """One attempt at charging one period; out_trade_no makes the gateway charge it at most once."""

    __tablename__ = "subscription_charges"
    __table_args__ = (sa.UniqueConstraint("subscription_id", "period", "attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(sa.ForeignKey("subscriptions.id"), index=True)
    period: Mapped[int]
    attempt: Mapped[int]
    out_trade_no: Mapped[str] = mapped_column(sa.String(40), unique=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: The unit's order (paid by this charge); none when the stock was gone before asking the gateway.
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"))
    status: Mapped[str] = mapped_column(sa.String(10), default=ChargeStatus.pending)
    #: The gateway's failure code (INSUFFICIENT_BALANCE, AGREEMENT_NOT_VALID …) or OUT_OF_STOCK.
    fail_code: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None]
