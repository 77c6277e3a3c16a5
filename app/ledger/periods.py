"""Accounting periods. Closing a month locks it and every month before it: nothing may be booked on a day of a
closed month; corrections go into the open period as adjustments (app/ledger/adjustments.py).

Only a month that has ended can be closed, and months close in order. Everyday postings are booked at the moment
they are made, which is always in an open month; a posting dated earlier (an adjustment booked on the last day of
the previous month) takes a shared lock that closing takes exclusively, so a close and a back-dated posting can
never pass each other on PostgreSQL (SQLite runs one write transaction at a time)."""

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.accounts.models import Role, User
from app.core.audit import audit
from app.core.errors import Conflict, Forbidden, ValidationError, raise_all
from app.core.ids import utcnow
from app.extensions import db
from app.ledger.models import ClosedPeriod, JournalEntry, PeriodBalance, Posting

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: pg_advisory_xact_lock key shared by period closes (exclusive) and back-dated postings (shared).
_LOCK_KEY = 0x5155_4C44  # "QULD"


class PeriodClosed(Conflict):
    code = "PERIOD_CLOSED"


def zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def to_utc(local: datetime) -> datetime:
    """A naive local (platform time zone) moment as the naive UTC the database stores."""
    return local.replace(tzinfo=zone()).astimezone(UTC).replace(tzinfo=None)


def local_day(moment: datetime) -> date:
    return moment.replace(tzinfo=UTC).astimezone(zone()).date()


def month_of(moment: datetime) -> str:
    return local_day(moment).strftime("%Y-%m")


def parse_month(text: str) -> date:
    m = MONTH.match((text or "").strip())
    if not m or not 2000 <= int(m.group(1)) <= 2100:
        raise ValidationError(_l("Write the month as 2026-10."), code="PERIOD_INVALID", field="period")
    return date(int(m.group(1)), int(m.group(2)), 1)


def next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """[start, end) of a month of the platform's calendar, in UTC."""
    first = parse_month(period)
    return to_utc(datetime.combine(first, datetime.min.time())), to_utc(datetime.combine(next_month(first),
                                                                                         datetime.min.time()))


def parse_day(value: str | date, field: str) -> date:
    """A day as the forms write it (2026-11-30), or a date already."""
    try:
        return value if isinstance(value, date) else date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise ValidationError(_l("Write the date as 2026-11-30."), code="DATE_INVALID", field=field) from None


def days_that_are_over(start: str | date, end: str | date, not_over, max_days: int | None = None,
                       errors: list | None = None) -> tuple[date | None, date | None]:
    """The first and last day of a range that has ended (a statement's or a settlement's period). Each problem is
    appended to `errors` for the caller to raise with its own; without a list they are raised here, all at once.
    `not_over` is the message for a range that reaches today."""
    own, errors = errors is None, [] if errors is None else errors
    days = []
    for value, field in ((start, "start"), (end, "end")):
        try:
            days.append(parse_day(value, field))
        except ValidationError as e:
            days.append(None)
            errors.append(e)
    first, last = days
    if first and last:
        if first > last:
            errors.append(ValidationError(_l("The first day comes after the last."), code="DATE_RANGE_INVALID",
                                          field="end"))
        elif last >= local_day(utcnow()):
            errors.append(ValidationError(not_over, code="PERIOD_NOT_ENDED", field="end"))
        elif max_days is not None and (last - first).days >= max_days:
            errors.append(ValidationError(_l("At most %(n)s days at a time.", n=max_days), code="DATE_RANGE_INVALID",
                                          field="end"))
    if own:
        raise_all(errors)
    return first, last


def day_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """[start 00:00, end+1 00:00) of local days, in UTC; either may be open."""
    def at(d):
        return to_utc(datetime.combine(d, datetime.min.time()))
    return (at(start) if start else None), (at(end + timedelta(days=1)) if end else None)


#: Rows per page of the closed months' list.
PER_PAGE = 50


def closed_page(page: int = 1):
    """A page of the closed months, the latest first."""
    return db.paginate(sa.select(ClosedPeriod).order_by(ClosedPeriod.ends_at.desc(), ClosedPeriod.id.desc()),
                       page=page, per_page=PER_PAGE, error_out=False)


def closed_through() -> ClosedPeriod | None:
    """The latest closed month (every month before it is closed too)."""
    return db.session.scalars(sa.select(ClosedPeriod).order_by(ClosedPeriod.ends_at.desc()).limit(1)).first()


def _lock(shared: bool) -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        fn = sa.func.pg_advisory_xact_lock_shared if shared else sa.func.pg_advisory_xact_lock
        db.session.execute(sa.select(fn(_LOCK_KEY)))


def ensure_open(booked_at: datetime) -> None:
    """Refuse a posting dated in a closed month. Holds the shared lock until the caller's transaction ends."""
    _lock(shared=True)
    last = closed_through()
    if last is not None and booked_at < last.ends_at:
        raise PeriodClosed(_l("The books are closed through %(period)s. Book the correction as an adjustment in "
                              "an open month.", period=last.period), field="booked_on")
    if booked_at > utcnow() + timedelta(minutes=5):
        raise ValidationError(_l("An entry cannot be booked in the future."), code="DATE_IN_FUTURE",
                              field="booked_on")


def next_to_close() -> str | None:
    """The month that can be closed next: the one after the last closed month, or else the month of the first
    entry; None when that month has not ended yet (or there is nothing to close)."""
    last = closed_through()
    if last is not None:
        first = next_month(parse_month(last.period))
    else:
        earliest = db.session.scalar(sa.select(sa.func.min(JournalEntry.booked_at)))
        if earliest is None:
            return None
        first = local_day(earliest).replace(day=1)
    period = first.strftime("%Y-%m")
    return period if month_bounds(period)[1] <= utcnow() else None


def close(actor: User, period: str) -> ClosedPeriod:
    """Close one month. Finance only; the month must have ended and be the next one to close. Audited; commits."""
    if actor.role != Role.finance:
        raise Forbidden(_l("Only finance closes accounting periods."))
    starts_at, ends_at = month_bounds(period)
    period = parse_month(period).strftime("%Y-%m")
    _lock(shared=False)
    last = closed_through()
    if last is not None and ends_at <= last.ends_at:
        raise Conflict(_l("%(period)s is already closed.", period=period), code="PERIOD_ALREADY_CLOSED",
                       field="period")
    if ends_at > utcnow():
        raise ValidationError(_l("%(period)s has not ended yet; a month can be closed from the first day of the "
                                 "next month.", period=period), code="PERIOD_NOT_ENDED", field="period")
    expected = next_to_close()
    if last is not None and period != expected:
        raise ValidationError(_l("Months close in order: close %(period)s first.", period=expected or period),
                              code="PERIOD_OUT_OF_ORDER", field="period")
    row = ClosedPeriod(period=period, starts_at=starts_at, ends_at=ends_at, closed_by_id=actor.id)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        raise Conflict(_l("%(period)s is already closed.", period=period), code="PERIOD_ALREADY_CLOSED",
                       field="period") from None
    _snapshot(row)
    audit(actor.id, "ledger.period_closed", "ledger_period", row.id, period=period)
    db.session.commit()
    return row


def _snapshot(row: ClosedPeriod) -> None:
    """Sum, per account, the debits and credits booked before the closed month's end. Under the exclusive
    period lock nothing can still be booked before it, so these sums hold for good."""
    amount = Posting.amount_fen
    db.session.execute(sa.insert(PeriodBalance).from_select(
        ["period_id", "account_id", "debit_fen", "credit_fen"],
        sa.select(sa.literal(row.id), Posting.account_id,
                  sa.func.sum(sa.case((amount > 0, amount), else_=0)),
                  sa.func.sum(sa.case((amount < 0, -amount), else_=0)))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id).where(JournalEntry.booked_at < row.ends_at)
        .group_by(Posting.account_id)))

