"""Procurement requests, their recipients, approval steps and history."""

from datetime import datetime
from enum import StrEnum
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.core.ids import utcnow
from app.extensions import db
from app.procurement.models.organization import Department, Employee
from app.procurement.models.packs import Pack


class Target(StrEnum):
    employees = "employees"
    department = "department"
    #: `quantity` packs into the organization's pool, handed out later.
    pool = "pool"


class ReclaimMode(StrEnum):
    #: Unclaimed benefits go back to the organization's pool, to hand out again.
    pool = "pool"
    #: Their price is credited back to the organization's balance (and its budget).
    credit = "credit"


class RequestStatus(StrEnum):
    draft = "draft"
    pending = "pending"
    #: Sent back for changes: the requester edits and submits again (the flow restarts at step 1).
    returned = "returned"
    rejected = "rejected"
    #: Approved, waiting for the money (an invoice to pay, or the balance to be topped up).
    awaiting_payment = "awaiting_payment"
    #: Paid; the issuance job hands out the grants.
    paid = "paid"
    issued = "issued"
    cancelled = "cancelled"


RS = RequestStatus
REQUEST_TRANSITIONS = {
    RS.draft: frozenset({RS.pending, RS.cancelled}),
    RS.returned: frozenset({RS.pending, RS.cancelled}),
    RS.pending: frozenset({RS.returned, RS.rejected, RS.awaiting_payment, RS.paid}),
    RS.awaiting_payment: frozenset({RS.paid, RS.cancelled}),
    RS.paid: frozenset({RS.issued}),
}


class ProcurementRequest(db.Model):
    __tablename__ = "procurement_requests"
    __table_args__ = (
        sa.Index("ix_procurement_requests_org", "organization_id", "id"),
        sa.CheckConstraint("quantity >= 1", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    #: The department whose budget pays (and whose approver approves).
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    pack_id: Mapped[int] = mapped_column(sa.ForeignKey("packs.id"))
    requester_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    target: Mapped[str] = mapped_column(sa.String(12))
    #: Packs bought: the number of recipients, or the pool quantity.
    quantity: Mapped[int]
    #: The pack's enterprise price when the request was (last) submitted.
    unit_price_fen: Mapped[int] = mapped_column(sa.BigInteger)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    justification: Mapped[str] = mapped_column(sa.String(500))
    reclaim_mode: Mapped[str] = mapped_column(sa.String(10), default=ReclaimMode.pool)
    claim_days: Mapped[int] = mapped_column(default=30)
    status: Mapped[str] = mapped_column(sa.String(20), default=RequestStatus.draft)
    #: The approval round: each submission (first or after a return) starts a new round at step 1.
    round: Mapped[int] = mapped_column(default=0)
    #: The budget charged at the final approval.
    budget_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("budgets.id"))
    submitted_at: Mapped[Optional[datetime]]
    approved_at: Mapped[Optional[datetime]]
    paid_at: Mapped[Optional[datetime]]
    issued_at: Mapped[Optional[datetime]]
    #: Grants handed out by the issuance job so far (its progress).
    issued_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    department: Mapped[Department] = relationship()
    pack: Mapped[Pack] = relationship()
    requester: Mapped[User] = relationship()


class RequestRecipient(db.Model):
    """An employee the request is for (a department's are listed when the request is submitted)."""

    __tablename__ = "request_recipients"
    __table_args__ = (sa.UniqueConstraint("request_id", "employee_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("procurement_requests.id"), index=True)
    employee_id: Mapped[int] = mapped_column(sa.ForeignKey("employees.id"))

    employee: Mapped[Employee] = relationship()


class StepStatus(StrEnum):
    #: Not its turn yet.
    queued = "queued"
    waiting = "waiting"
    approved = "approved"
    rejected = "rejected"
    returned = "returned"
    #: The round ended (rejected or returned at an earlier step) before this step's turn.
    skipped = "skipped"


SS = StepStatus
STEP_TRANSITIONS = {
    SS.queued: frozenset({SS.waiting, SS.skipped}),
    SS.waiting: frozenset({SS.approved, SS.rejected, SS.returned}),
}


class ApprovalStep(db.Model):
    __tablename__ = "approval_steps"
    __table_args__ = (sa.UniqueConstraint("request_id", "round", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("procurement_requests.id"), index=True)
    round: Mapped[int]
    position: Mapped[int]
    label: Mapped[str] = mapped_column(sa.String(40))
    #: Who must act, fixed when the round starts.
    approver_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(10), default=StepStatus.queued)
    #: When the step became the one waiting (reminders count from here).
    waiting_since: Mapped[Optional[datetime]]
    reminded_at: Mapped[Optional[datetime]]
    acted_at: Mapped[Optional[datetime]]
    comment: Mapped[str] = mapped_column(sa.String(500), default="")

    approver: Mapped[User] = relationship()


class RequestEvent(db.Model):
    """The request's history as people read it: who did what, when, with which comment."""

    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("procurement_requests.id"), index=True)
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    #: created, submitted, approved, rejected, returned, cancelled, invoiced, paid, issued, reminded…
    action: Mapped[str] = mapped_column(sa.String(20))
    #: The step's label when an approver acted.
    step_label: Mapped[str] = mapped_column(sa.String(40), default="")
    comment: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    actor: Mapped[Optional[User]] = relationship()
