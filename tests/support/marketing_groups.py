"""Group-buy test helpers: a live campaign (campaign CRUD is another feature's), an offer in it, a group made to
run out of time."""

from datetime import timedelta

import sqlalchemy as sa

from app.core.ids import utcnow
from app.extensions import db
from app.marketing.models import Campaign, Group, GroupOffer


def make_campaign(name: str = "拼团节", *, status: str = "live", stackable: bool = False, days: int = 7) -> int:
    now = utcnow()
    campaign = Campaign(name=name, status=status, starts_at=now - timedelta(hours=1),
                        ends_at=now + timedelta(days=days), stackable=stackable)
    db.session.add(campaign)
    db.session.commit()
    return campaign.id


def make_offer(sku_id: int, *, price_fen: int = 1990, size: int = 3, hours: int = 24,
               campaign_id: int | None = None) -> int:
    offer = GroupOffer(campaign_id=campaign_id or make_campaign(), sku_id=sku_id, group_price_fen=price_fen,
                       group_size=size, hours=hours)
    db.session.add(offer)
    db.session.commit()
    return offer.id


def run_out_of_time(group_id: int) -> None:
    """Move a group's deadline into the past, as if T hours had gone by."""
    db.session.execute(sa.update(Group).where(Group.id == group_id)
                       .values(deadline=utcnow() - timedelta(seconds=1)))
    db.session.commit()
