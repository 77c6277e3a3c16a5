from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.models import Sku
from app.core.ids import utcnow
from app.extensions import db


class OrderStatus(StrEnum):
    pending_payment = "pending_payment"
    paid = "paid"
    delivered = "delivered"
    cancelled = "cancelled"
    expired = "expired"
    refunded = "refunded"


S = OrderStatus
ORDER_TRANSITIONS = {
    S.pending_payment: frozenset({S.paid, S.cancelled, S.expired}),
    # A payment that lands after expiry is honoured if stock can be re-reserved, else refunded.
    S.expired: frozenset({S.paid}),
    S.cancelled: frozenset({S.paid}),
    S.paid: frozenset({S.delivered, S.refunded}),
    S.delivered: frozenset({S.refunded}),
}


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        sa.Index("ix_orders_buyer", "buyer_id", "id"),
        #: Marketing segments ask per buyer whether and how much they paid, and when.
        sa.Index("ix_orders_buyer_paid", "buyer_id", "paid_at"),
        sa.Index("ix_orders_status_expires", "status", "expires_at"),
        sa.CheckConstraint("quantity >= 1", name="quantity_positive"),
        # A reseller's own order number is its idempotency key (NULLs, i.e. retail orders, never collide).
        sa.UniqueConstraint("reseller_id", "client_order_no"),
        sa.Index("ix_orders_reseller", "reseller_id", "id"),
        # Customer service searches a reseller's order number without knowing the reseller.
        sa.Index("ix_orders_client_order_no", "client_order_no"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    #: The user who placed it; None for a reseller's API order (a reseller needs no console user).
    buyer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: "retail" for the consumer portal, "reseller" for wholesale orders; later "enterprise".
    channel: Mapped[str] = mapped_column(sa.String(20), default="retail")
    #: The reseller a wholesale order belongs to (its tenant); None for retail orders.
    reseller_id: Mapped[int | None] = mapped_column(sa.ForeignKey("resellers.id"))
    #: The reseller's own order number (API `client_order_no`; console orders get one generated).
    client_order_no: Mapped[str | None] = mapped_column(sa.String(64))
    #: SHA-256 of the request's canonical body: the same client_order_no with another body is a conflict.
    request_hash: Mapped[str | None] = mapped_column(sa.String(64))
    #: Where order events are POSTed (the order's own, or the reseller's default at the time).
    notify_url: Mapped[str | None] = mapped_column(sa.String(500))
    #: The API key that placed it (its secret signs the callbacks); None for console orders.
    api_credential_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_credentials.id"))
    #: A sub-agent's order: what its parent earns per delivered unit (sub-agent price − parent cost).
    commission_unit_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    quantity: Mapped[int]
    unit_price_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: What the buyer pays: unit_price_fen × quantity − discount_fen.
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: The part of amount_fen paid from the buyer's wallet (taken into 2203 when applied; the Payment's amount is
    #: the rest, for the gateway). app/payments/wallet_orders.py.
    wallet_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    #: What marketing took off the list price (coupons, a flash-sale or group price); booked to sales discounts.
    discount_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    #: Top-up accounts given at checkout, by AccountFormat ({"mobile": "138…"}); units without one wait
    #: in the benefit center for their owner to redeem.
    accounts: Mapped[dict | None] = mapped_column(sa.JSON)
    #: Refunded so far (failed units refunded one by one); equals amount_fen when status is refunded.
    refunded_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    status: Mapped[str] = mapped_column(sa.String(20), default=OrderStatus.pending_payment)
    #: Unpaid orders release their reserved codes after this time.
    expires_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    sku: Mapped[Sku] = relationship()


class ReviewStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


REVIEW_TRANSITIONS = {
    ReviewStatus.pending: frozenset({ReviewStatus.approved, ReviewStatus.rejected}),
}


class OrderReview(db.Model):
    """An order risk control held for a person to look at: it may be paid, but nothing is delivered until ops
    approve it (delivered then) or reject it (refunded, the account optionally frozen)."""

    __tablename__ = "order_reviews"
    __table_args__ = (sa.Index("ix_order_reviews_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
    #: The risk decision that held it (its features, rules and score are the reviewer's evidence).
    decision_id: Mapped[int | None] = mapped_column(sa.ForeignKey("risk_decisions.id"))
    status: Mapped[str] = mapped_column(sa.String(10), default=ReviewStatus.pending)
    #: Escalated when nobody decided by then (RISK_REVIEW_ESCALATE_MINUTES after the hold).
    due_at: Mapped[datetime]
    escalated_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    #: The reviewer's note; with a rejection, whether the account was frozen too.
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    froze_account: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship()
