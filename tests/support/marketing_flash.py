"""Campaigns and flash sales for tests (campaign CRUD is the campaigns feature's; a sale only needs one row).
Each function commits and returns an id; call it inside an app context (the `ctx` fixture, or `peek`)."""

from datetime import timedelta

from app.core.ids import utcnow
from app.extensions import db


def make_campaign(name: str = "双十二", status: str = "live", days: int = 30, stackable: bool = False,
                  starts_in: timedelta = timedelta(days=-1)) -> int:
    from app.marketing.models import Campaign

    start = utcnow() + starts_in
    campaign = Campaign(name=name, status=status, starts_at=start, ends_at=start + timedelta(days=days),
                        stackable=stackable)
    db.session.add(campaign)
    db.session.commit()
    return campaign.id


def make_flash_sale(sku_id: int, campaign_id: int | None = None, price: int = 990, quota: int = 10, limit: int = 2,
                    starts_in: timedelta = timedelta(minutes=-1), lasts: timedelta = timedelta(hours=1)) -> int:
    """A sale made the way ops make one (flash_setup.create); by default live for the next hour."""
    from app.marketing import flash_setup

    start = utcnow() + starts_in
    sale = flash_setup.create(None, campaign_id=campaign_id or make_campaign(), sku_id=sku_id, price_fen=price,
                              quota=quota, per_user_limit=limit, starts_at=start, ends_at=start + lasts)
    return sale.id
