from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import utcnow
from app.extensions import db


class CampaignStatus(StrEnum):
    draft = "draft"
    #: Published, waiting for its start time.
    scheduled = "scheduled"
    live = "live"
    ended = "ended"


S = CampaignStatus
CAMPAIGN_TRANSITIONS = {
    S.draft: frozenset({S.scheduled, S.live}),
    S.scheduled: frozenset({S.live, S.ended, S.draft}),
    S.live: frozenset({S.ended}),
}


class Campaign(db.Model):
    """What groups coupons, flash sales, group buys and offers under one name, window and report."""

    __tablename__ = "campaigns"
    __table_args__ = (sa.CheckConstraint("ends_at > starts_at", name="window_ordered"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.String(500), default="", server_default="")
    status: Mapped[str] = mapped_column(sa.String(20), default=CampaignStatus.draft)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    #: Whether its discounts may be combined with another campaign's on one order (else one per order).
    stackable: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def status_at(self, now: datetime) -> str:
        """The status a reader sees: a published campaign is live inside its window and ended after it, even
        before the job that moves the stored status has run."""
        if self.status in (S.scheduled, S.live):
            if now >= self.ends_at:
                return S.ended
            if now >= self.starts_at:
                return S.live
            return S.scheduled
        return self.status
