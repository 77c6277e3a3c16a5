from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import utcnow
from app.extensions import db


class PaymentStatus(StrEnum):
    created = "created"
    succeeded = "succeeded"
    refund_pending = "refund_pending"
    refunded = "refunded"
    closed = "closed"


P = PaymentStatus
PAYMENT_TRANSITIONS = {
    P.created: frozenset({P.succeeded, P.closed}),
    P.closed: frozenset({P.succeeded}),
    P.succeeded: frozenset({P.refund_pending}),
    P.refund_pending: frozenset({P.refunded}),
}


class Payment(db.Model):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    provider: Mapped[str] = mapped_column(sa.String(20), default="sandbox")
    #: Our number sent to the gateway; one payment per order.
    out_trade_no: Mapped[str] = mapped_column(sa.String(40), unique=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    status: Mapped[str] = mapped_column(sa.String(20), default=PaymentStatus.created)
    #: The gateway's own trade number, known once it reports payment.
    gateway_trade_no: Mapped[str | None] = mapped_column(sa.String(64))
    pay_url: Mapped[str | None] = mapped_column(sa.String(500))
    paid_at: Mapped[datetime | None]
    refund_reason: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaymentNotification(db.Model):
    """Every notification received, verified or not: the log that explains what happened."""

    __tablename__ = "payment_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(20))
    #: The gateway's notify id, set only once the signature verified: a replay cannot insert it twice.
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(80), unique=True)
    out_trade_no: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    #: applied | duplicate | bad_signature | stale | unknown_order | amount_mismatch | currency_mismatch …
    outcome: Mapped[str] = mapped_column(sa.String(30))
    payload: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefundStatus(StrEnum):
    pending = "pending"
    done = "done"


REFUND_TRANSITIONS = {RefundStatus.pending: frozenset({RefundStatus.done})}


class Refund(db.Model):
    """A partial refund of a payment (one undeliverable unit). The pending row is the outbox entry."""

    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payments.id"), index=True)
    #: Sent to the gateway, which refunds each out_refund_no once.
    out_refund_no: Mapped[str] = mapped_column(sa.String(80), unique=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(10), default=RefundStatus.pending)
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class Wallet(db.Model):
    """A user's wallet: the row locked (FOR UPDATE) to serialise that user's credits and debits, so a balance
    read under the lock cannot be spent twice. It holds no balance: the ledger's sub-account of 2208 is the
    balance (app/payments/wallet.py). One row per user who ever used it, created on first use."""

    __tablename__ = "wallets"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
