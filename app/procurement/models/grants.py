"""Grants: one benefit handed to one employee (or the pool), and the orders that fulfil it."""

from datetime import datetime
from enum import StrEnum
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.models import Sku
from app.core.ids import utcnow
from app.extensions import db
from app.procurement.models.organization import Employee
from app.procurement.models.packs import Pack


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
