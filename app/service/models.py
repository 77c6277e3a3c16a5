"""After-sales cases (售后工单): one per complaint about one delivered unit, with its timeline and screenshots."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.ids import utcnow
from app.extensions import db


class CaseStatus(StrEnum):
    open = "open"
    #: A staff member took it up (asked the supplier, wrote a note).
    in_progress = "in_progress"
    #: Resolved: the unit got a new code (or a new delivery); the old code is void.
    replaced = "replaced"
    #: Resolved: the unit's money (all of it or part) went back the way it was paid.
    refunded = "refunded"
    #: Resolved: nothing done, with a reason the buyer reads.
    rejected = "rejected"


S = CaseStatus
#: Each case resolves exactly once: the resolutions are terminal and the transition is compare-and-set.
CASE_TRANSITIONS = {
    S.open: frozenset({S.in_progress, S.replaced, S.refunded, S.rejected}),
    S.in_progress: frozenset({S.replaced, S.refunded, S.rejected}),
}
OPEN = (S.open, S.in_progress)
RESOLVED = (S.replaced, S.refunded, S.rejected)


class CaseReason(StrEnum):
    code_invalid = "code_invalid"
    already_used = "already_used"
    topup_missing = "topup_missing"
    wrong_account = "wrong_account"
    other = "other"


class CaseSource(StrEnum):
    buyer = "buyer"
    reseller = "reseller"
    staff = "staff"
    batch_void = "batch_void"


class Case(db.Model):
    __tablename__ = "service_cases"
    __table_args__ = (
        sa.Index("ix_service_cases_status_due", "status", "due_at"),
        sa.CheckConstraint("refund_fen >= 0", name="refund_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Shown to buyers and staff ("CS" + date + id).
    case_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    entitlement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("entitlements.id"), index=True)
    #: The entitlement while the case is open, None once resolved: unique, so a unit has one open case at most.
    open_entitlement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("entitlements.id"), unique=True)
    #: The code a case is about when its order has no units: one of a reseller's stocked card-code wholesale orders
    #: (its codes are issued straight to the order). It stays the reported code once replaced (void then).
    code_id: Mapped[int | None] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                                sa.ForeignKey("codes.id"), index=True)
    #: The code while the case is open, None once resolved: unique, so a code has one open case at most.
    open_code_id: Mapped[int | None] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                                     sa.ForeignKey("codes.id"), unique=True)
    #: The buyer who reads it (the unit's owner); None for a reseller's API unit.
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    reseller_id: Mapped[int | None] = mapped_column(sa.ForeignKey("resellers.id"), index=True)
    source: Mapped[str] = mapped_column(sa.String(12))
    reason: Mapped[str] = mapped_column(sa.String(20))
    message: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(12), default=CaseStatus.open)
    escalated: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    escalated_at: Mapped[datetime | None]
    #: The SLA: a case still open then is escalated (once) by the periodic job.
    due_at: Mapped[datetime]
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    opened_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    resolved_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None]
    #: The reason given with a rejection or a refund.
    resolution_note: Mapped[str] = mapped_column(sa.String(500), default="")
    refund_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    #: An idempotency key: opening again with the same key returns this case (batch void uses it).
    key: Mapped[str | None] = mapped_column(sa.String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    events: Mapped[list["CaseEvent"]] = relationship(order_by="CaseEvent.id", back_populates="case")
    attachments: Mapped[list["CaseAttachment"]] = relationship(order_by="CaseAttachment.id")


class CaseEvent(db.Model):
    """One line of a case's timeline. Never holds a code."""

    __tablename__ = "service_case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("service_cases.id"), index=True)
    #: opened | taken | note | supplier_query | replaced | redelivering | refunded | rejected | escalated
    kind: Mapped[str] = mapped_column(sa.String(20))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(sa.String(1000), default="")
    #: Staff-only lines (a supplier's answer, an internal note) are not shown to the buyer.
    internal: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="events")


class CaseAttachment(db.Model):
    """A screenshot's metadata; the file lives under the instance folder (never static), named by `stored`."""

    __tablename__ = "service_case_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("service_cases.id"), index=True)
    #: A random file name we chose; the buyer's name is kept only for display.
    stored: Mapped[str] = mapped_column(sa.String(64), unique=True)
    filename: Mapped[str] = mapped_column(sa.String(120), default="")
    #: image/png | image/jpeg | image/webp, from the content (Pillow), not from the upload's headers.
    content_type: Mapped[str] = mapped_column(sa.String(20))
    size: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
