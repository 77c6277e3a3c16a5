from datetime import datetime
from enum import StrEnum
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from app.accounts.models import Organization
from app.catalog.models import Sku
from app.core.ids import utcnow
from app.extensions import db

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class Tier(db.Model):
    """A reseller price level: retail × (100 − discount)% unless a SKU has its own tier price."""

    __tablename__ = "tiers"
    __table_args__ = (
        sa.CheckConstraint("discount_bp >= 0 AND discount_bp <= 10000", name="discount_range"),
        sa.CheckConstraint("max_agent_markup_bp >= 0", name="markup_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60), unique=True)
    #: Discount off the retail price in basis points (1250 = 12.50%).
    discount_bp: Mapped[int] = mapped_column(default=0)
    #: Ops' bound on sub-agent prices: a reseller of this tier may charge its sub-agents at most its own
    #: cost plus this markup (basis points), and never more than the retail price.
    max_agent_markup_bp: Mapped[int] = mapped_column(default=3000, server_default="3000")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TierPrice(db.Model):
    """A per-SKU price for one tier, set by ops; overrides the tier's discount."""

    __tablename__ = "tier_prices"
    __table_args__ = (
        sa.UniqueConstraint("tier_id", "sku_id"),
        sa.CheckConstraint("price_fen >= 0", name="price_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tier_id: Mapped[int] = mapped_column(sa.ForeignKey("tiers.id"), index=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    price_fen: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    sku: Mapped[Sku] = relationship()


class ResellerStatus(StrEnum):
    active = "active"
    #: Cannot order or use the API; everything stays visible in the console.
    suspended = "suspended"


class Reseller(db.Model):
    """A reseller's channel account; its people are the users of `organization`."""

    __tablename__ = "resellers"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), unique=True)
    #: Top-level resellers are priced by their tier; sub-agents by their parent (AgentPrice).
    tier_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("tiers.id"), index=True)
    #: The reseller that invited this sub-agent; None for a top-level reseller. Two levels only.
    parent_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("resellers.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(12), default=ResellerStatus.active)
    #: A sub-agent's default markup over its parent's cost (basis points) where no AgentPrice is set.
    agent_markup_bp: Mapped[int] = mapped_column(default=0, server_default="0")
    #: Alert (inbox + email) when the prepaid balance falls below this; 0 turns the alert off.
    low_balance_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    #: Set when the alert went out; cleared when a top-up lifts the balance above the threshold again.
    low_balance_alerted_at: Mapped[Optional[datetime]]
    #: Callback URL for orders that do not name their own `notify_url` (console orders included).
    notify_url: Mapped[Optional[str]] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship()
    tier: Mapped[Optional[Tier]] = relationship()
    parent: Mapped[Optional["Reseller"]] = relationship(remote_side=[id])

    @property
    def name(self) -> str:
        return self.organization.name


class AgentPrice(db.Model):
    """What a parent charges one of its sub-agents for a SKU (at or above its own cost, within ops' bound)."""

    __tablename__ = "agent_prices"
    __table_args__ = (
        sa.UniqueConstraint("reseller_id", "sku_id"),
        sa.CheckConstraint("price_fen >= 0", name="price_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The sub-agent this price applies to.
    reseller_id: Mapped[int] = mapped_column(sa.ForeignKey("resellers.id"), index=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    price_fen: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    sku: Mapped[Sku] = relationship()


class AgentInvitation(db.Model):
    """A parent's invitation to a sub-agent; accepted once through a link carrying the token."""

    __tablename__ = "agent_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(sa.ForeignKey("resellers.id"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    company: Mapped[str] = mapped_column(sa.String(120))
    agent_markup_bp: Mapped[int] = mapped_column(default=0)
    #: SHA-256 of the token in the link; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[Optional[datetime]]
    #: The sub-agent created on acceptance.
    reseller_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("resellers.id"))
    created_by: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelPool(db.Model):
    """Stock ring-fenced for one reseller: the codes whose `pool_id` is this pool's id. Only that reseller's
    orders claim them; every other order's query excludes them, so nothing else can take them."""

    __tablename__ = "channel_pools"
    __table_args__ = (sa.UniqueConstraint("reseller_id", "sku_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reseller_id: Mapped[int] = mapped_column(sa.ForeignKey("resellers.id"), index=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    #: When the pool runs short, may this reseller's orders also take shared (un-pooled) stock?
    allow_shared: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    sku: Mapped[Sku] = relationship()
    reseller: Mapped[Reseller] = relationship()


class ApiCredential(db.Model):
    """One API key of a reseller. The secret is sealed (the server needs it to check HMACs), shown once."""

    __tablename__ = "api_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    reseller_id: Mapped[int] = mapped_column(sa.ForeignKey("resellers.id"), index=True)
    api_key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    label: Mapped[str] = mapped_column(sa.String(60), default="")
    data_key_id: Mapped[int] = mapped_column(sa.ForeignKey("data_keys.id"))
    secret_ct: Mapped[bytes] = mapped_column(sa.LargeBinary)
    #: CIDR blocks allowed to call with this key; empty means any address.
    ip_allowlist: Mapped[list] = mapped_column(sa.JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[Optional[datetime]]
    last_used_at: Mapped[Optional[datetime]]


class TopupStatus(StrEnum):
    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"


TOPUP_TRANSITIONS = {
    TopupStatus.submitted: frozenset({TopupStatus.approved, TopupStatus.rejected}),
}


class BalanceTopup(db.Model):
    """A reseller's request to add a bank transfer to its prepaid balance; posted when finance approves."""

    __tablename__ = "balance_topups"
    __table_args__ = (sa.CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reseller_id: Mapped[int] = mapped_column(sa.ForeignKey("resellers.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: The bank transfer's reference as the reseller gave it.
    transfer_ref: Mapped[str] = mapped_column(sa.String(64))
    receipt_name: Mapped[str] = mapped_column(sa.String(200), default="")
    receipt_type: Mapped[str] = mapped_column(sa.String(60), default="")
    receipt_data: Mapped[Optional[bytes]] = deferred(mapped_column(sa.LargeBinary))
    status: Mapped[str] = mapped_column(sa.String(12), default=TopupStatus.submitted)
    requested_by: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    reviewed_by: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    reviewed_at: Mapped[Optional[datetime]]
    review_note: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    reseller: Mapped[Reseller] = relationship()


class IssuanceStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"


class Issuance(db.Model):
    """Background issuance of a large wholesale order: its codes are reserved when the order is placed and
    marked delivered here in batches, then written to the download files."""

    __tablename__ = "issuances"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
    status: Mapped[str] = mapped_column(sa.String(10), default=IssuanceStatus.queued)
    total: Mapped[int]
    issued: Mapped[int] = mapped_column(default=0)
    #: "issuing" then "files" while running.
    phase: Mapped[str] = mapped_column(sa.String(10), default="issuing")
    job_id: Mapped[Optional[str]] = mapped_column(sa.String(64))
    #: A worker holds the issuance until then; the sweep re-enqueues it after.
    lease_until: Mapped[Optional[datetime]]
    started_at: Mapped[Optional[datetime]]
    finished_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IssuedFile(db.Model):
    """A ready download of an order's codes, encrypted at rest like the codes themselves."""

    __tablename__ = "issued_files"
    __table_args__ = (sa.UniqueConstraint("order_id", "format"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"))
    #: csv | xlsx
    format: Mapped[str] = mapped_column(sa.String(8))
    rows: Mapped[int]
    size: Mapped[int]
    data_key_id: Mapped[int] = mapped_column(sa.ForeignKey("data_keys.id"))
    content_ct: Mapped[bytes] = deferred(mapped_column(sa.LargeBinary))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallbackStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    #: Every retry failed; "resend" in the console queues it again.
    failed = "failed"


CALLBACK_TRANSITIONS = {
    CallbackStatus.pending: frozenset({CallbackStatus.delivered, CallbackStatus.failed}),
    CallbackStatus.failed: frozenset({CallbackStatus.pending}),
    CallbackStatus.delivered: frozenset({CallbackStatus.pending}),
}


class CallbackEvent(db.Model):
    """An order event to POST to the reseller's notify_url: the outbox row, written in the transaction that
    changed the order; one per (order, event type)."""

    __tablename__ = "callback_events"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "type"),
        sa.Index("ix_callback_events_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Sent as `event_id`; the same event keeps it on every retry and resend.
    event_id: Mapped[str] = mapped_column(sa.String(40), unique=True)
    reseller_id: Mapped[int] = mapped_column(sa.ForeignKey("resellers.id"), index=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"))
    #: order.delivered | order.partially_delivered | order.failed | order.refunded, or
    #: order.unit_refunded:<refund_no> (one per after-sales refund; the body's type is order.unit_refunded)
    type: Mapped[str] = mapped_column(sa.String(40))
    url: Mapped[str] = mapped_column(sa.String(500))
    #: The exact JSON body, frozen when the event happened.
    payload: Mapped[dict] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(10), default=CallbackStatus.pending)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[Optional[datetime]]
    lease_until: Mapped[Optional[datetime]]
    last_status_code: Mapped[Optional[int]]
    last_error: Mapped[Optional[str]] = mapped_column(sa.String(300))
    delivered_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallbackAttempt(db.Model):
    """One POST of a callback: the delivery log the reseller reads."""

    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    callback_id: Mapped[int] = mapped_column(sa.ForeignKey("callback_events.id"), index=True)
    status_code: Mapped[Optional[int]]
    error: Mapped[str] = mapped_column(sa.String(300), default="")
    duration_ms: Mapped[int] = mapped_column(default=0)
    #: Set when a person pressed "resend".
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Commission(db.Model):
    """What a parent earned on a sub-agent's order: (sub-agent price − parent cost) × delivered units.
    Posted to the ledger as payable to the parent; settled by finance."""

    __tablename__ = "commissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The parent that earned it.
    reseller_id: Mapped[int] = mapped_column(sa.ForeignKey("resellers.id"), index=True)
    #: The sub-agent whose order it came from.
    agent_id: Mapped[int] = mapped_column(sa.ForeignKey("resellers.id"))
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
    units: Mapped[int]
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: The settlement batch that claimed it (released again if the batch is rejected), and when it was paid.
    settlement_batch_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("settlement_batches.id"), index=True)
    settled_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
