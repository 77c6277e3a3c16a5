"""Enterprises and their people: the company, departments, employees."""

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Organization, User
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

    #: Listed beside EmployeeInvitation rows in the directory (see directory.employees).
    invitation = False

    @property
    def email(self) -> str | None:
        return self.user.email

    @property
    def phone(self) -> str | None:
        return self.user.phone

