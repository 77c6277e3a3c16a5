"""Keeping the daily roll-ups (docs/insight.md). A day is rolled up whole: its rows are deleted and written again
from the orders and the ledger in one transaction, under the lock of its `insight_rolled_days` row, so a rerun
writes the same rows and two roll-ups of the same day at once take turns. Today is never rolled up: it is read
live."""

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite

from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.insight import sources
from app.insight.models import BuyerDay, DailySales, RolledDay
from app.insight.periods import MAX_DAYS, Period, today

#: The job rolls up yesterday and the day before on every run (a payment or refund committed just after
#: midnight may carry the day before's moment), and any day of this many past days it has not rolled up yet.
CATCH_UP_DAYS = 35


def _lock(day: date) -> None:
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    db.session.execute(dialect.insert(RolledDay).values(day=day, built_at=utcnow()).on_conflict_do_nothing())
    db.session.execute(sa.select(RolledDay).where(RolledDay.day == day).with_for_update())


def roll_up_day(day: date) -> int:
    """Write `day`'s rows again from the sources (commits). Returns how many sales rows it has."""
    if day >= today():
        raise ValidationError(_l("Today and later days are read live, not rolled up."), code="DAY_NOT_OVER")
    start, end = Period(day, day).bounds()
    _lock(day)
    db.session.execute(sa.delete(DailySales).where(DailySales.day == day))
    db.session.execute(sa.delete(BuyerDay).where(BuyerDay.day == day))
    rows = sources.sales(start, end)
    if rows:
        db.session.execute(sa.insert(DailySales), [vars(r) for r in rows])
    buyers = sources.buyers(start, end)
    if buyers:
        db.session.execute(sa.insert(BuyerDay), [vars(b) for b in buyers])
    db.session.execute(sa.update(RolledDay).where(RolledDay.day == day).values(built_at=utcnow()))
    db.session.commit()
    return len(rows)


def rebuild(first: date, last: date) -> dict:
    """Roll up every day of first..last that is over (today and later are read live and skipped)."""
    if last < first:
        raise ValidationError(_l("The last day comes before the first."), code="RANGE_INVALID", field="to")
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationError(_l("Choose at most %(n)s days.", n=MAX_DAYS), code="RANGE_INVALID", field="to")
    over = min(last, today() - timedelta(days=1))
    days = [first + timedelta(days=n) for n in range((over - first).days + 1)]
    rows = sum(roll_up_day(d) for d in days)
    return {"from": first.isoformat(), "to": last.isoformat(), "days": len(days), "rows": rows,
            "skipped_live_days": (last - first).days + 1 - len(days)}


def days_to_roll(now: date | None = None) -> list[date]:
    now = now or today()
    recent = [now - timedelta(days=n) for n in range(CATCH_UP_DAYS, 0, -1)]
    done = set(db.session.scalars(sa.select(RolledDay.day).where(RolledDay.day >= recent[0])))
    return [d for d in recent if d not in done or d >= now - timedelta(days=2)]


def keep_up() -> int:
    """The periodic job: yesterday, the day before, and recent days never rolled up. Returns days written."""
    days = days_to_roll()
    for d in days:
        roll_up_day(d)
    return len(days)


def rolled(first: date, last: date) -> set[date]:
    return set(db.session.scalars(sa.select(RolledDay.day).where(RolledDay.day >= first, RolledDay.day <= last)))


def built_at(day: date) -> datetime | None:
    return db.session.scalar(sa.select(RolledDay.built_at).where(RolledDay.day == day))
