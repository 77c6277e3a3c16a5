"""Loyalty's segment rules for marketing (registered at start-up through marketing.segments.register_rule):
"member level at least L" and "growth value at least N" (over the window, as the member sees it)."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.extensions import db
from app.loyalty.models import GrowthEntry, MemberLevel, MemberStatus
from app.marketing.segments import Param, Rule


def _level_choices() -> list[tuple[int, str]]:
    return [(lv.id, lv.name) for lv in db.session.scalars(sa.select(MemberLevel).order_by(MemberLevel.threshold))]


def _level_at_least(p: dict, now: datetime):
    floor = sa.select(MemberLevel.threshold).where(MemberLevel.id == p["level_id"]).scalar_subquery()
    return (sa.select(MemberStatus.user_id).join(MemberLevel, MemberLevel.id == MemberStatus.level_id)
            .where(MemberStatus.user_id == User.id, MemberLevel.threshold >= floor).exists())


def _growth_at_least(p: dict, now: datetime):
    since = now - timedelta(days=current_app.config["LEVEL_WINDOW_DAYS"])
    total = (sa.select(sa.func.coalesce(sa.func.sum(GrowthEntry.amount), 0))
             .where(GrowthEntry.user_id == User.id, GrowthEntry.counts_at > since, GrowthEntry.counts_at <= now)
             .scalar_subquery())
    return total >= p["value"]


RULES = (
    Rule("member_level", _l("Member level at least L"),
         (Param("level_id", _l("Level"), "choice", choices=_level_choices),), _level_at_least),
    Rule("growth_value", _l("Growth value at least N"), (Param("value", _l("Growth value"), "count"),),
         _growth_at_least),
)
