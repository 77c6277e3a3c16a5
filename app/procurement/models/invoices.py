"""Invoices for requests the company balance could not pay."""

from datetime import datetime
from enum import StrEnum
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Organization
from app.core.ids import utcnow
from app.extensions import db


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
