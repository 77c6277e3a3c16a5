from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.models import Sku
from app.core.ids import utcnow
from app.extensions import db
from app.marketing.models.campaigns import Campaign


class GroupStatus(StrEnum):
    open = "open"
    #: Every seat taken and paid: every member's order is delivered.
    filled = "filled"
    #: Time ran out first: paid members are refunded, unpaid orders closed.
    failed = "failed"


G = GroupStatus
GROUP_TRANSITIONS = {G.open: frozenset({G.filled, G.failed})}


class GroupOffer(db.Model):
    """A group price for one SKU: N buyers within T hours of the group's opening each pay it."""

    __tablename__ = "group_offers"
    __table_args__ = (
        sa.CheckConstraint("group_size >= 2", name="size_at_least_two"),
        sa.CheckConstraint("hours >= 1", name="hours_positive"),
        sa.CheckConstraint("group_price_fen >= 1", name="price_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"), index=True)
    #: What each member pays per unit (the list price less this is the member's discount per unit).
    group_price_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: N: members a group needs to be delivered.
    group_size: Mapped[int]
    #: T: hours a group has to fill from its opening.
    hours: Mapped[int]
    #: Ops stopped it: no group opens or takes a member any more (open groups run to their deadline).
    stopped_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[Campaign] = relationship()
    sku: Mapped[Sku] = relationship()

    def live_at(self, now: datetime) -> bool:
        return self.stopped_at is None and self.campaign.status_at(now) == "live"


class Group(db.Model):
    """One group of an offer, opened by its leader's order."""

    __tablename__ = "groups"
    __table_args__ = (
        # The target of group_members' (group_id, group_size) key: a member's seat is checked against the
        # size of the group it really belongs to.
        sa.UniqueConstraint("id", "size"),
        sa.Index("ix_groups_status_deadline", "status", "deadline"),
        sa.Index("ix_groups_offer", "offer_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(sa.ForeignKey("group_offers.id"))
    leader_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: N, copied from the offer when the group opened.
    size: Mapped[int]
    #: The member's price per unit, copied from the offer when the group opened.
    group_price_fen: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(10), default=GroupStatus.open)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: opened_at + T hours: still open then, the group fails.
    deadline: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    offer: Mapped[GroupOffer] = relationship()


class GroupMember(db.Model):
    """One seat of a group, taken by a buyer's order at checkout; an unpaid order that closes gives it back
    (the row goes). The database keeps a group from having more than its N seats or a buyer twice."""

    __tablename__ = "group_members"
    __table_args__ = (
        sa.UniqueConstraint("group_id", "seat"),
        sa.UniqueConstraint("group_id", "buyer_id"),
        sa.CheckConstraint("seat >= 1 AND seat <= group_size", name="seat_in_group"),
        sa.ForeignKeyConstraint(["group_id", "group_size"], ["groups.id", "groups.size"],
                                name="fk_group_members_group_size"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("groups.id"))
    #: The group's size (N), bound to the group by the composite foreign key: what `seat` is checked against.
    group_size: Mapped[int]
    seat: Mapped[int]
    buyer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
    #: When the member's payment landed (a paid member waits for the group; its delivery is held).
    paid_at: Mapped[datetime | None]
    #: When a failed group's refund of this member was started (once).
    refunded_at: Mapped[datetime | None]
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
