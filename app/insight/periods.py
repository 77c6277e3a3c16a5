"""The date range a dashboard or report is read for, in the platform's calendar (Asia/Shanghai): today, the last
7 or 30 days, a month, or custom days; and the period just before it, of the same length, to compare with.

Every insight page takes the same query arguments, so a link keeps its range across pages:
`range` = today | 7d | 30d | month | custom, `month` = 2026-11 (with range=month), `from` and `to` = 2026-11-01
(with range=custom, both days included)."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l

from app.core.errors import ValidationError, raise_all
from app.core.ids import utcnow
from app.ledger.periods import local_day, next_month, parse_day, parse_month, to_utc

RANGES = ("today", "7d", "30d", "month", "custom")
#: A custom range may cover at most this many days (13 months: a year compared with the one before).
MAX_DAYS = 400


@dataclass(frozen=True)
class Period:
    """Local days `first`..`last`, both included."""
    first: date
    last: date
    range: str = "custom"

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def each_day(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) of the period in naive UTC, as the database stores moments."""
        return (to_utc(datetime.combine(self.first, datetime.min.time())),
                to_utc(datetime.combine(self.last + timedelta(days=1), datetime.min.time())))

    def previous(self) -> "Period":
        """The period of the same length just before this one (for a month: the month before)."""
        if self.range == "month":
            first = (self.first - timedelta(days=1)).replace(day=1)
            return Period(first, self.first - timedelta(days=1), "month")
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1), self.range)

    def args(self) -> dict[str, str]:
        """The query arguments that give this period back (for links and downloads)."""
        if self.range == "month":
            return {"range": "month", "month": self.first.strftime("%Y-%m")}
        if self.range == "custom":
            return {"range": "custom", "from": self.first.isoformat(), "to": self.last.isoformat()}
        return {"range": self.range}

    def includes_today(self, today: date | None = None) -> bool:
        return self.first <= (today or local_day(utcnow())) <= self.last


def today() -> date:
    return local_day(utcnow())


def parse(args, default: str = "7d") -> Period:
    """The period the query arguments ask for; a bad one raises ValidationError with every reason at once."""
    kind = (args.get("range") or default).strip()
    now = today()
    if kind == "today":
        return Period(now, now, "today")
    if kind == "7d":
        return Period(now - timedelta(days=6), now, "7d")
    if kind == "30d":
        return Period(now - timedelta(days=29), now, "30d")
    if kind == "month":
        first = parse_month(args.get("month") or now.strftime("%Y-%m"))
        return Period(first, next_month(first) - timedelta(days=1), "month")
    if kind != "custom":
        raise ValidationError(_l("Choose today, 7 days, 30 days, a month or custom days."), code="RANGE_INVALID",
                              field="range")
    errors: list[ValidationError] = []
    days = []
    for field in ("from", "to"):
        try:
            days.append(parse_day(args.get(field) or "", field))
        except ValidationError as e:
            errors.append(e)
    if not errors:
        first, last = days
        if last < first:
            errors.append(ValidationError(_l("The last day comes before the first."), code="RANGE_INVALID",
                                          field="to"))
        elif (last - first).days + 1 > MAX_DAYS:
            errors.append(ValidationError(_l("Choose at most %(n)s days.", n=MAX_DAYS), code="RANGE_INVALID",
                                          field="to"))
    raise_all(errors)
    return Period(days[0], days[1], "custom")
