"""Helpers for the offers tests: a campaign (campaign CRUD is not the offers' own), and offers in it."""

from datetime import timedelta

from app.core.ids import utcnow
from app.extensions import db
from app.marketing.models import Campaign


def make_campaign(name: str = "新人礼", status: str = "live", stackable: bool = False, hours: int = 24) -> int:
    """A campaign live from an hour ago for `hours` more (status "draft"/"ended" for the others); commits and
    returns its id (call inside an app context)."""
    now = utcnow()
    starts, ends = now - timedelta(hours=1), now + timedelta(hours=hours)
    if status == "ended":
        starts, ends = now - timedelta(hours=hours + 1), now - timedelta(minutes=1)
    campaign = Campaign(name=name, status="live" if status == "ended" else status, starts_at=starts, ends_at=ends,
                        stackable=stackable)
    db.session.add(campaign)
    db.session.commit()
    return campaign.id
