"""Rejected inbound notices (gateway notifications, supplier callbacks), counted rather than stored.

A stranger can send any number of unsigned notices; storing each body let them fill the database. One
row per (source, reason, day) keeps what ops and finance need: how many, why, and when the last came.
"""

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import utcnow
from app.extensions import db


class RejectedNotice(db.Model):
    __tablename__ = "rejected_notices"
    __table_args__ = (sa.UniqueConstraint("source", "reason", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Who the notice claimed to come from: "paygate:sandbox", "supplier:<code>".
    source: Mapped[str] = mapped_column(sa.String(60))
    #: bad_signature | stale | unknown_order | …
    reason: Mapped[str] = mapped_column(sa.String(60))
    #: UTC day.
    day: Mapped[date]
    count: Mapped[int] = mapped_column(default=0)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)


def count_rejected(source: str, reason: str) -> None:
    """Add one to today's counter of (source, reason), in the caller's transaction (the caller commits)."""
    now = utcnow()
    source, reason = source[:60], reason[:60]
    key = (RejectedNotice.source == source, RejectedNotice.reason == reason, RejectedNotice.day == now.date())
    bump = sa.update(RejectedNotice).where(*key).values(count=RejectedNotice.count + 1, last_at=now)
    if db.session.execute(bump.execution_options(synchronize_session=False)).rowcount:
        return
    try:
        with db.session.begin_nested():
            db.session.add(RejectedNotice(source=source, reason=reason, day=now.date(), count=1, last_at=now))
    except IntegrityError:  # a concurrent first notice of the day inserted the row: count on it
        db.session.execute(bump.execution_options(synchronize_session=False))


def recent(days: int = 7) -> list[RejectedNotice]:
    """The counters of the last `days` days, newest first."""
    since = utcnow().date() - timedelta(days=days - 1)
    return list(db.session.scalars(sa.select(RejectedNotice).where(RejectedNotice.day >= since)
                                   .order_by(RejectedNotice.day.desc(), RejectedNotice.source,
                                             RejectedNotice.reason)))
