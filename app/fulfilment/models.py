from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.models import Sku
from app.core.ids import utcnow
from app.extensions import db


class EntitlementStatus(StrEnum):
    #: Its delivery is under way (a supplier purchase or top-up).
    pending = "pending"
    #: Held by its owner: a code to reveal, a link to open, or a top-up to redeem.
    unused = "unused"
    used = "used"
    expired = "expired"
    refunded = "refunded"
    #: Taken back by the employer at the claim deadline, never revealed (its code went back to stock).
    reclaimed = "reclaimed"


E = EntitlementStatus
ENTITLEMENT_TRANSITIONS = {
    E.pending: frozenset({E.unused, E.used, E.refunded}),
    # unused → pending: a top-up benefit is being redeemed to an account.
    E.unused: frozenset({E.pending, E.used, E.expired, E.refunded, E.reclaimed}),
    # used/expired → refunded: only a unit given free with its order taken back (services.take_back).
    E.used: frozenset({E.refunded}),
    E.expired: frozenset({E.refunded}),
}


class Entitlement(db.Model):
    """One unit owned by a user: what the benefit center lists."""

    __tablename__ = "entitlements"
    __table_args__ = (
        sa.Index("ix_entitlements_owner", "owner_id", "status"),
        # A code's slot can be handed out once: a plain code has one slot, a shared code `max_uses`.
        sa.UniqueConstraint("code_id", "code_use"),
        # Customer service searches by the account a top-up went to.
        sa.Index("ix_entitlements_account", "account"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The user whose benefit it is; None for a unit of a reseller's API order (the reseller holds it).
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    #: Set when this unit came as part of a joint membership.
    bundle_sku_id: Mapped[int | None] = mapped_column(sa.ForeignKey("skus.id"))
    code_id: Mapped[int | None] = mapped_column(sa.ForeignKey("codes.id"))
    #: Which slot of the code this is (1 for plain codes; 1..max_uses for shared codes).
    code_use: Mapped[int] = mapped_column(default=1, server_default="1")
    #: The account a top-up went (or goes) to.
    account: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(10), default=EntitlementStatus.unused)
    valid_until: Mapped[datetime | None] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
    reveal_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    sku: Mapped[Sku] = relationship(foreign_keys=[sku_id])
    bundle_sku: Mapped[Sku | None] = relationship(foreign_keys=[bundle_sku_id])
    delivery: Mapped["Delivery | None"] = relationship(back_populates="entitlement", uselist=False)


class DeliveryStatus(StrEnum):
    #: A top-up benefit nobody has redeemed yet: it waits for its owner's account.
    awaiting_account = "awaiting_account"
    #: Due for (another) attempt at `next_attempt_at`.
    queued = "queued"
    #: The supplier took the order and will call back; we poll at `next_attempt_at` in case it does not.
    accepted = "accepted"
    delivered = "delivered"
    #: Retries exhausted: in the ops exception queue.
    failed = "failed"
    refunded = "refunded"
    #: An unredeemed top-up benefit whose validity ran out.
    expired = "expired"


D = DeliveryStatus
DELIVERY_TRANSITIONS = {
    D.awaiting_account: frozenset({D.queued, D.expired, D.refunded}),
    D.queued: frozenset({D.accepted, D.delivered, D.failed}),
    D.accepted: frozenset({D.delivered, D.failed, D.queued}),
    D.failed: frozenset({D.queued, D.delivered, D.refunded}),
    # delivered → refunded: only a unit given free with its order (`extra`) taken back (services.take_back).
    D.delivered: frozenset({D.refunded}),
}
#: Deliveries that still need work; an order with none of these is complete.
IN_FLIGHT = (D.queued, D.accepted, D.failed)


class Delivery(db.Model):
    """One unit to deliver. `key` is also the idempotency key sent upstream (as `out_order_no`)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
        sa.CheckConstraint("amount_fen >= 0", name="amount_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "<order_no>-<unit>", unique: writing the same unit twice is impossible.
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    entitlement_id: Mapped[int] = mapped_column(sa.ForeignKey("entitlements.id"), unique=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    #: This unit's share of the order amount: its revenue once delivered, its refund if it never is.
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: This unit's share of the order's discount: its list value is amount_fen + discount_fen.
    discount_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    #: A unit given free with the order (signals.extra_units: a gift): not part of what was paid, so it does not
    #: count towards the order's settlement, and it is taken back (take_back) rather than refunded.
    extra: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    account: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(20), default=DeliveryStatus.queued)
    supplier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("suppliers.id"))
    #: The supplier's product id and our cost, copied from the mapping when the supplier was chosen.
    supplier_product_id: Mapped[str | None] = mapped_column(sa.String(64))
    cost_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: Sent upstream: `key`, then `key-r1`, `key-r2`… after the supplier said a try definitively failed.
    out_order_no: Mapped[str | None] = mapped_column(sa.String(72), unique=True)
    upstream_seq: Mapped[int] = mapped_column(default=0)
    upstream_order_no: Mapped[str | None] = mapped_column(sa.String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    #: A worker holds the delivery until then; another may take it over after.
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    accepted_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    #: Set when ops delivered by hand.
    delivered_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    sku: Mapped[Sku] = relationship()
    entitlement: Mapped[Entitlement] = relationship(back_populates="delivery")


class DeliveryAttempt(db.Model):
    """What happened on each try: the history ops reads in the exception queue. Never holds a code."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("deliveries.id"), index=True)
    supplier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("suppliers.id"))
    out_order_no: Mapped[str | None] = mapped_column(sa.String(72))
    #: submitted | polled | callback | manual …
    action: Mapped[str] = mapped_column(sa.String(20))
    #: delivered | accepted | processing | failed | unavailable | unknown | …
    outcome: Mapped[str] = mapped_column(sa.String(20))
    detail: Mapped[str] = mapped_column(sa.String(300), default="")
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UnitRefund(db.Model):
    """Money given back for a unit already delivered (after-sales: a code that does not work, a top-up that did
    not arrive), fully or in part, through the path the order was paid by (app/fulfilment/after_sales.py). The
    rows of one unit never add up to more than its amount; `key` (the caller's) makes a refund happen once."""

    __tablename__ = "unit_refunds"
    __table_args__ = (sa.CheckConstraint("amount_fen > 0", name="amount_pos"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The caller's idempotency key (e.g. "case:12"): the same key refunds nothing more.
    key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    #: The unit: a delivery, or (a reseller's stocked order, issued as codes with no delivery rows) a code.
    delivery_id: Mapped[int | None] = mapped_column(sa.ForeignKey("deliveries.id"), index=True)
    code_id: Mapped[int | None] = mapped_column(sa.ForeignKey("codes.id"), index=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
