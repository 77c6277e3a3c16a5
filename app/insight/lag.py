"""The redemption lag (docs/insight-operations.md): over the units delivered in a period, the time from delivery to
the unit's first reveal or redemption, whichever came first, and the units with neither (yet).

Lags are counted in log-scale buckets (`bucket`): under a minute, then 8 buckets per doubling, so a bucket spans
9 % and its middle (what a percentile reports, `hours`) is within 4.5 % of any lag in it. Finished days come from
the daily roll-up `insight_lag_days` (day x SKU: units delivered, units per bucket, units never revealed), which
counts reveals and redemptions made before one moment, the cutoff (`insight_lag_cutoff`); the ones made since are
read live (few: the periodic job moves the cutoff on, `fold`), and today's units are counted live whole. So the
figures equal a direct count of every unit at bucket resolution, however late a unit was revealed."""

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.core.ids import utcnow
from app.core.models import AuditLog
from app.extensions import db
from app.fulfilment.models import Delivery, Entitlement
from app.insight.operations_models import LagCutoff, LagDay
from app.insight.periods import Period, today
from app.ledger.periods import local_day

#: Buckets per doubling of the lag (bucket 0: under a minute).
PER_DOUBLING = 8
#: The cutoff trails the clock by this much: a reveal committed later than this after its moment would be missed
#: by the fold (the job's re-roll of the last days counts it again).
MARGIN = timedelta(minutes=5)


def bucket(seconds: float) -> int:
    """0: under a minute; then bucket k holds [60 s x 2^((k-1)/8), 60 s x 2^(k/8))."""
    if seconds < 60:
        return 0
    return int(math.floor(PER_DOUBLING * math.log2(seconds / 60))) + 1


def hours(b: int) -> float:
    """What bucket b reports: the geometric middle of its edges (30 s for bucket 0), in hours."""
    seconds = 30.0 if b == 0 else 60 * 2 ** ((b - 0.5) / PER_DOUBLING)
    return seconds / 3600


@dataclass
class Histogram:
    delivered: int = 0
    never: int = 0
    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, delivered_at: datetime, first: datetime | None, cutoff: datetime | None = None) -> None:
        self.delivered += 1
        if first is None or (cutoff is not None and first >= cutoff):
            self.never += 1
        else:
            self.late(delivered_at, first)

    def late(self, delivered_at: datetime, first: datetime) -> None:
        """A unit counted as never revealed is revealed (or redeemed) at `first`."""
        b = bucket(max(0.0, (first - delivered_at).total_seconds()))
        self.buckets[b] = self.buckets.get(b, 0) + 1

    def merge(self, delivered: int, never: int, buckets: dict) -> None:
        self.delivered += delivered
        self.never += never
        for b, n in buckets.items():
            self.buckets[int(b)] = self.buckets.get(int(b), 0) + n

    def percentile(self, p: float) -> float | None:
        """The nearest-rank p-th percentile of the revealed units' lags, in hours at bucket resolution."""
        total = sum(self.buckets.values())
        if not total:
            return None
        rank = max(1, -(-total * p // 100))  # ceil(p/100 x n)
        seen = 0
        for b in sorted(self.buckets):
            seen += self.buckets[b]
            if seen >= rank:
                return round(hours(b), 2)
        raise AssertionError("unreachable")


@dataclass
class Lag:
    delivered: int
    never: int
    #: Hours from delivery to the first reveal or redemption (bucket resolution).
    median_hours: float | None
    p90_hours: float | None

    @property
    def never_share(self) -> float | None:
        return round(self.never / self.delivered, 4) if self.delivered else None


def _units(start: datetime, end: datetime, skus=None):
    """(SKU, delivered at, first reveal or redemption) of the units delivered in [start, end), gifts left out."""
    # Per unit, through the audit log's (target_type, target_id) index: only these units are looked up.
    first_reveal = (sa.select(sa.func.min(AuditLog.created_at))
                    .where(AuditLog.target_type == "entitlement", AuditLog.target_id == Entitlement.id,
                           AuditLog.action == "code.reveal")
                    .correlate(Entitlement).scalar_subquery())
    q = (sa.select(Delivery.sku_id, Delivery.delivered_at, Entitlement.used_at, first_reveal)
         .join(Entitlement, Entitlement.id == Delivery.entitlement_id)
         .where(Delivery.delivered_at >= start, Delivery.delivered_at < end, Delivery.extra.is_(False)))
    if skus is not None:
        q = q.where(Delivery.sku_id.in_(skus))
    return q


def _first(used_at: datetime | None, revealed_at: datetime | None) -> datetime | None:
    firsts = [t for t in (used_at, revealed_at) if t is not None]
    return min(firsts) if firsts else None


def _since(q, moment: datetime):
    """Narrow the units to those revealed or redeemed at or after moment (by the audit log's created_at index and
    entitlements.used_at's)."""
    touched = sa.union(
        sa.select(AuditLog.target_id).where(AuditLog.action == "code.reveal", AuditLog.target_type == "entitlement",
                                            AuditLog.created_at >= moment),
        sa.select(Entitlement.id).where(Entitlement.used_at >= moment))
    return q.where(Entitlement.id.in_(touched))


def compute_day(day: date, cutoff: datetime | None = None) -> dict[int, Histogram]:
    """Per SKU, the units delivered on day, counting reveals and redemptions before cutoff (None: all)."""
    out: dict[int, Histogram] = {}
    for sku_id, delivered_at, used_at, revealed_at in db.session.execute(_units(*Period(day, day).bounds())):
        out.setdefault(sku_id, Histogram()).add(delivered_at, _first(used_at, revealed_at), cutoff)
    return out


def cutoff() -> datetime | None:
    return db.session.scalar(sa.select(LagCutoff.revealed_before).where(LagCutoff.id == 1))


def _lock() -> datetime:
    """The cutoff, locked for this transaction (created on first use): roll-ups and folds take turns."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    db.session.execute(dialect.insert(LagCutoff).values(id=1, revealed_before=utcnow() - MARGIN)
                       .on_conflict_do_nothing())
    return db.session.scalar(sa.select(LagCutoff.revealed_before).where(LagCutoff.id == 1).with_for_update())


def _write(day: date, moment: datetime) -> None:
    db.session.execute(sa.delete(LagDay).where(LagDay.day == day))
    rows = [{"day": day, "sku_id": sku_id, "delivered": h.delivered, "never": h.never,
             "buckets": {str(b): n for b, n in sorted(h.buckets.items())}}
            for sku_id, h in sorted(compute_day(day, moment).items())]
    if rows:
        db.session.execute(sa.insert(LagDay), rows)


def roll_day(day: date) -> None:
    """Write day's rows again from the units, as they stand at the cutoff (a rerun writes the same). The caller
    commits; never today (it is live)."""
    if day >= today():
        return
    _write(day, _lock())


def fold() -> int:
    """(Periodic job.) Move the cutoff up to MARGIN ago: the finished days with a unit revealed or redeemed between
    the two cutoffs are written again with the new one, in the same transaction. Returns how many days."""
    old, new = _lock(), utcnow() - MARGIN
    if new <= old:
        db.session.commit()
        return 0
    start = Period(today(), today()).bounds()[0]
    q = _since(_units(datetime.min, start), old)
    days = {local_day(delivered_at) for _sku, delivered_at, _u, _r in db.session.execute(q)}
    for day in sorted(days):
        _write(day, new)
    db.session.execute(sa.update(LagCutoff).where(LagCutoff.id == 1).values(revealed_before=new))
    db.session.commit()
    return len(days)


def redemption_lag(period: Period, skus=None) -> Lag:
    """The period's figure (skus: a subquery of SKU ids to keep, None: every SKU): finished days from the roll-up,
    plus the reveals since its cutoff, plus today live."""
    now = today()
    for _ in range(3):  # a fold committed between the reads moves the cutoff: read again
        moment = cutoff()
        h = _read(period, skus, now, moment)
        if cutoff() == moment:
            break
    return Lag(h.delivered, h.never, h.percentile(50), h.percentile(90))


def _read(period: Period, skus, now: date, moment: datetime | None) -> Histogram:
    h = Histogram()
    start, end = period.bounds()
    live_from = Period(now, now).bounds()[0]
    if period.first < now:
        q = sa.select(LagDay.day, LagDay.sku_id, LagDay.delivered, LagDay.never, LagDay.buckets) \
            .where(LagDay.day >= period.first, LagDay.day <= min(period.last, now - timedelta(days=1)))
        if skus is not None:
            q = q.where(LagDay.sku_id.in_(skus))
        rolled = set()
        for day, sku_id, delivered, never, buckets in db.session.execute(q):
            rolled.add((day, sku_id))
            h.merge(delivered, never, buckets)
        if moment is not None:
            for sku_id, delivered_at, used_at, revealed_at in db.session.execute(
                    _since(_units(start, min(end, live_from), skus), moment)):
                first = _first(used_at, revealed_at)
                # counted as never in its day's row (a day not rolled up yet counts nothing, as sales do)
                if first is not None and first >= moment and (local_day(delivered_at), sku_id) in rolled:
                    h.never -= 1
                    h.late(delivered_at, first)
    if period.last >= now:
        for _sku, delivered_at, used_at, revealed_at in db.session.execute(_units(max(start, live_from), end, skus)):
            h.add(delivered_at, _first(used_at, revealed_at))
    return h
