"""Department budgets by period and the approval rules that turn into a request's steps."""

from datetime import date, datetime
from enum import StrEnum
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.core.ids import utcnow
from app.extensions import db
from app.procurement.models.organization import Department


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
