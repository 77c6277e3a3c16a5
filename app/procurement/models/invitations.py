"""An invitation to join a company's directory, sent to the owner of an existing private account.

An HR admin who adds (or imports) an address that already belongs to a consumer does not convert that
account: an invitation is stored and its owner decides. Until then nothing about the user changes."""

import enum
from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Organization, User
from app.core.ids import utcnow
from app.extensions import db
from app.procurement.models.organization import Department


class InvitationStatus(enum.StrEnum):
    pending = "pending"
    accepted = "accepted"
    declined = "declined"
    cancelled = "cancelled"


class EmployeeInvitation(db.Model):
    __tablename__ = "employee_invitations"
    __table_args__ = (sa.Index("ix_employee_invitations_org_status", "organization_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    name: Mapped[str] = mapped_column(sa.String(80))
    employee_no: Mapped[str] = mapped_column(sa.String(32))
    #: The address and number as HR typed them (the directory shows these, never the account's own).
    email: Mapped[Optional[str]] = mapped_column(sa.String(254))
    phone: Mapped[Optional[str]] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(16), default=InvitationStatus.pending)
    created_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[Optional[datetime]] = mapped_column()

    organization: Mapped[Organization] = relationship()
    department: Mapped[Department] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])

    #: Shown in the directory like any not-yet-activated employee.
    active = True
    invitation = True
