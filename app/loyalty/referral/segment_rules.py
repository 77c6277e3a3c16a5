"""Referral facts for marketing's segments (人群): "is a promoter" and "bought through a promoter's link in the
last N days". Registered into marketing's rule registry when the app starts (loyalty sits above marketing, so
marketing never imports this)."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.loyalty.models.referral import Promoter, Referral, ReferralOutcome
from app.marketing import segments
from app.orders.models import Order


def _is_promoter(p: dict, now: datetime):
    return sa.select(Promoter.id).where(Promoter.user_id == User.id).exists()


def _referred_buyer(p: dict, now: datetime):
    return (sa.select(Referral.id).join(Order, Order.id == Referral.order_id)
            .where(Order.buyer_id == User.id, Order.paid_at >= now - timedelta(days=p["days"]),
                   Referral.outcome == ReferralOutcome.attributed).exists())


def register() -> None:
    for rule in (segments.Rule("is_promoter", _l("Is a promoter"), (), _is_promoter),
                 segments.Rule("referred_buyer", _l("Bought through a promoter's link in the last N days"),
                               (segments.DAYS,), _referred_buyer)):
        segments.RULES[rule.name] = rule
