"""Enterprise benefits: the directory (departments, employees), budgets, approval rules, benefit packs,
procurement requests with their approval steps and history, invoices, and the grants handed to employees."""

from datetime import date, datetime
from enum import StrEnum
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Organization, User
from app.catalog.models import Sku
from app.core.ids import utcnow
from app.extensions import db


class Enterprise(db.Model):
    """An enterprise customer's account with the platform; its people are the users of `organization`."""

    __tablename__ = "enterprises"
    __table_args__ = (sa.CheckConstraint("discount_bp >= 0 AND discount_bp <= 10000", name="discount_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), unique=True)
    #: The enterprise's price: retail × (100 − discount)% (basis points, set by ops).
    discount_bp: Mapped[int] = mapped_column(default=0)
    #: Days employees have to claim a benefit, unless a request says otherwise.
    claim_days: Mapped[int] = mapped_column(default=30)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship()


class Department(db.Model):
    __tablename__ = "departments"
    __table_args__ = (sa.UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    #: Who approves this department's requests at the "department approver" step.
    approver_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    approver: Mapped[Optional[User]] = relationship()


class Employee(db.Model):
    """A person in an enterprise's directory; `user_id` is the login they use in the benefit center."""

    __tablename__ = "employees"
    __table_args__ = (
        sa.UniqueConstraint("organization_id", "employee_no"),
        sa.UniqueConstraint("organization_id", "user_id"),
        sa.Index("ix_employees_department", "department_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    employee_no: Mapped[str] = mapped_column(sa.String(32))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    department: Mapped[Department] = relationship()
    user: Mapped[User] = relationship()


class Activation(db.Model):
    """A single-use link that lets a person without a password (a new employee or HR admin) set one."""

    __tablename__ = "activations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    #: SHA-256 of the token in the link; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[Optional[datetime]]
    created_by: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Budget(db.Model):
    """What a department may spend in a period (a month "2026-11", a quarter "2026-Q4" or a year "2026").

    `spent_fen` moves only by a conditional UPDATE (`… WHERE spent_fen + x <= amount_fen`), so concurrent
    approvals can never take it over the amount; the check constraint backs that up.
    """

    __tablename__ = "budgets"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "period"),
        sa.CheckConstraint("spent_fen >= 0 AND spent_fen <= amount_fen", name="within_amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    period: Mapped[str] = mapped_column(sa.String(7))
    starts_on: Mapped[date]
    #: Exclusive: the first day after the period.
    ends_on: Mapped[date]
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: Approved requests' amounts, less what was credited back.
    spent_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    department: Mapped[Department] = relationship()


class StepKind(StrEnum):
    #: The request's department's approver.
    department_approver = "department_approver"
    #: A named person (the enterprise's finance, a director…).
    user = "user"


class ApprovalRule(db.Model):
    """One approval step, required for requests of at least `min_amount_fen`; steps run by `position`."""

    __tablename__ = "approval_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    min_amount_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    position: Mapped[int] = mapped_column(default=0)
    #: Shown in the flow, e.g. "财务" or "Director".
    label: Mapped[str] = mapped_column(sa.String(40))
    kind: Mapped[str] = mapped_column(sa.String(20), default=StepKind.department_approver)
    approver_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    approver: Mapped[Optional[User]] = relationship()


class PackKind(StrEnum):
    #: Every item, each employee.
    fixed = "fixed"
    #: The employee picks one of the items (the brand).
    choice = "choice"


class Pack(db.Model):
    __tablename__ = "packs"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    kind: Mapped[str] = mapped_column(sa.String(10), default=PackKind.fixed)
    description: Mapped[str] = mapped_column(sa.String(300), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    items: Mapped[list["PackItem"]] = relationship(order_by="PackItem.position, PackItem.id",
                                                   cascade="all, delete-orphan")


class PackItem(db.Model):
    __tablename__ = "pack_items"
    __table_args__ = (
        sa.UniqueConstraint("pack_id", "sku_id"),
        sa.CheckConstraint("quantity >= 1", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pack_id: Mapped[int] = mapped_column(sa.ForeignKey("packs.id"), index=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    #: Units per employee (a choice pack's options are one unit each).
    quantity: Mapped[int] = mapped_column(default=1)
    position: Mapped[int] = mapped_column(default=0)

    sku: Mapped[Sku] = relationship()


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


class InvoiceStatus(StrEnum):
    issued = "issued"
    paid = "paid"
    cancelled = "cancelled"


INVOICE_TRANSITIONS = {InvoiceStatus.issued: frozenset({InvoiceStatus.paid, InvoiceStatus.cancelled})}


class Invoice(db.Model):
    """A bill the enterprise pays by bank transfer; platform finance confirms the transfer, and the amount
    goes to the organization's balance (and on to the request it was issued for)."""

    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    request_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("procurement_requests.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(10), default=InvoiceStatus.issued)
    #: The bank transfer's reference, entered by finance when confirming.
    bank_ref: Mapped[Optional[str]] = mapped_column(sa.String(64))
    created_by: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    confirmed_by: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    confirmed_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship()


class GrantStatus(StrEnum):
    #: In the organization's pool, nobody's yet.
    pooled = "pooled"
    #: Handed to an employee, waiting to be claimed.
    issued = "issued"
    #: Claimed: its benefits are the employee's entitlements.
    claimed = "claimed"
    #: Not claimed (or claimed and never revealed) by the deadline: back to the pool as a new grant.
    reclaimed = "reclaimed"
    #: As reclaimed, but its price went back to the organization's balance.
    credited = "credited"


GS = GrantStatus
GRANT_TRANSITIONS = {
    GS.pooled: frozenset({GS.issued, GS.credited}),
    GS.issued: frozenset({GS.claimed, GS.reclaimed, GS.credited}),
    GS.claimed: frozenset({GS.reclaimed, GS.credited}),
}


class Grant(db.Model):
    """One pack for one employee (or in the pool): what the employee claims in the benefit center."""

    __tablename__ = "grants"
    __table_args__ = (
        # The issuance job can run twice: one grant per recipient of a request, ever.
        sa.UniqueConstraint("request_id", "recipient_id"),
        sa.Index("ix_grants_owner", "user_id", "status"),
        sa.Index("ix_grants_deadline", "status", "claim_deadline"),
        sa.Index("ix_grants_org", "organization_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("procurement_requests.id"), index=True)
    #: The recipient row it was issued for; None for pool grants.
    recipient_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("request_recipients.id"))
    pack_id: Mapped[int] = mapped_column(sa.ForeignKey("packs.id"))
    #: The department charged (the request's): reports count by it.
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    employee_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("employees.id"), index=True)
    user_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    #: What the organization paid for it.
    price_fen: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(10))
    claim_deadline: Mapped[Optional[datetime]]
    #: A choice pack's pick.
    chosen_sku_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("skus.id"))
    #: The grant this one came back from, for a reclaimed grant's pooled successor.
    source_grant_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("grants.id"))
    issued_at: Mapped[Optional[datetime]]
    claimed_at: Mapped[Optional[datetime]]
    closed_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    pack: Mapped[Pack] = relationship()
    employee: Mapped[Optional[Employee]] = relationship()
    chosen_sku: Mapped[Optional[Sku]] = relationship()


class GrantOrder(db.Model):
    """The order a claim placed for one item of the pack (its entitlements are the employee's)."""

    __tablename__ = "grant_orders"
    __table_args__ = (sa.UniqueConstraint("grant_id", "sku_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(sa.ForeignKey("grants.id"), index=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
