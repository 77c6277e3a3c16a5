"""Marketing segment rules on points facts, registered with app.marketing.segments at start-up."""

from datetime import datetime

import sqlalchemy as sa

from app.accounts.models import User
from app.loyalty.models.points import PointsEntry


def at_least(p: dict, now: datetime) -> sa.ColumnElement:
    """Points balance at least N (N = 0 holds everyone)."""
    held = (sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.amount), 0))
            .where(PointsEntry.user_id == User.id).scalar_subquery())
    return held >= p["points"]
