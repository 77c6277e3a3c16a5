"""Campaigns and coupon templates for marketing tests (campaign CRUD is the campaigns feature's: a row is
enough here). Call inside an app context."""

from datetime import timedelta

from app.core.ids import utcnow
from app.extensions import db
from app.marketing import coupons
from app.marketing.models import Campaign


def make_campaign(name: str = "双十一", stackable: bool = False, status: str = "live", days: int = 30) -> int:
    now = utcnow()
    c = Campaign(name=name, status=status, starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=days),
                 stackable=stackable)
    db.session.add(c)
    db.session.commit()
    return c.id


def make_template(campaign_id: int | None = None, kind: str = "amount", amount: int = 500, threshold: int = 0,
                  off_bp: int = 0, cap: int = 0, total: int = 10, per_user: int = 1, scope: str = "all",
                  scope_ids: list | None = None, valid_days: int | None = 7, valid_from=None, valid_until=None,
                  new_user_only: bool = False, grant_at_signup: bool = False, name: str = "满减券") -> int:
    t = coupons.save_template(
        None, campaign_id=campaign_id or make_campaign(), name=name, kind=kind, amount_fen=amount,
        threshold_fen=threshold, off_bp=off_bp, cap_fen=cap, new_user_only=new_user_only, scope=scope,
        scope_ids=scope_ids or [], valid_from=valid_from, valid_until=valid_until, valid_days=valid_days,
        total_quantity=total, per_user_limit=per_user, claimable=True, grant_at_signup=grant_at_signup)
    return t.id
