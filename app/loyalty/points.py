"""The points ledger. Every earn, spend, expiry, reversal and give-back is a PointsEntry row on one lot; a
member's balance is the sum of their rows and always equals what their lots have left. Spends take the oldest
lots first; expiry takes what is left of a lot at its end. Each member's movements are serialised by a lock on
their `points_accounts` row (PostgreSQL: SELECT … FOR UPDATE; SQLite serialises every write transaction), so a
spend and an expiry of the same points never both succeed. Movements are idempotent by key (points_movements).
Points are not money: docs/loyalty-points.md says how a redeemed point shows up in the books."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite

from app.core.audit import audit
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.ledger import periods
from app.loyalty.models.points import PointsAccount, PointsEntry, PointsLot, PointsMovement, PointsSettings

DEFAULT_CHECKIN = [1, 1, 2, 2, 3, 3, 5]
MAX_POINTS = 10**9


class PointsInsufficient(ValidationError):
    code = "POINTS_INSUFFICIENT"


def settings() -> PointsSettings:
    """Ops' settings: the row, or (until ops first save them) the defaults, not written."""
    return db.session.get(PointsSettings, 1) or PointsSettings(
        id=1, earn_per_yuan=1, checkin_points=list(DEFAULT_CHECKIN), expiry_mode="year_end", expiry_days=365,
        remind_days=30)


def save_settings(actor_id: int | None, *, earn_per_yuan: int, checkin_points: list[int], expiry_mode: str,
                  expiry_days: int, remind_days: int) -> PointsSettings:
    """Ops change the points settings (audited); commits. Checked before anything is written."""
    if not isinstance(earn_per_yuan, int) or not 0 <= earn_per_yuan <= 1000:
        raise ValidationError(_l("Points per yuan must be between 0 and 1000."), code="SETTINGS_INVALID",
                              field="earn_per_yuan")
    if len(checkin_points) != 7 or any(not isinstance(p, int) or not 0 <= p <= 10000 for p in checkin_points):
        raise ValidationError(_l("Give 7 check-in bonuses, each between 0 and 10000."), code="SETTINGS_INVALID",
                              field="checkin_points")
    if expiry_mode not in ("year_end", "days"):
        raise ValidationError(_l("Choose an expiry rule."), code="SETTINGS_INVALID", field="expiry_mode")
    if not isinstance(expiry_days, int) or not 1 <= expiry_days <= 3650:
        raise ValidationError(_l("Days until expiry must be between 1 and 3650."), code="SETTINGS_INVALID",
                              field="expiry_days")
    if not isinstance(remind_days, int) or not 0 <= remind_days <= 365:
        raise ValidationError(_l("Reminder days must be between 0 and 365."), code="SETTINGS_INVALID",
                              field="remind_days")
    s = db.session.get(PointsSettings, 1) or PointsSettings(id=1)
    s.earn_per_yuan, s.checkin_points, s.expiry_mode = earn_per_yuan, list(checkin_points), expiry_mode
    s.expiry_days, s.remind_days, s.updated_at, s.updated_by = expiry_days, remind_days, utcnow(), actor_id
    db.session.add(s)
    audit(actor_id, "points.settings", "points_settings", 1, earn_per_yuan=earn_per_yuan,
          checkin_points=list(checkin_points), expiry_mode=expiry_mode, expiry_days=expiry_days,
          remind_days=remind_days)
    db.session.commit()
    return s


def expires_at(earned_at: datetime, s: PointsSettings | None = None) -> datetime:
    """When points earned at `earned_at` (naive UTC) expire: the end of the next local year, or N days on."""
    s = s or settings()
    if s.expiry_mode == "days":
        return earned_at + timedelta(days=s.expiry_days)
    year = periods.local_day(earned_at).year
    return periods.to_utc(datetime(year + 2, 1, 1))


def lock(user_id: int) -> PointsAccount:
    """Lock the member's points account for the rest of the transaction (made on first use)."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    db.session.execute(dialect.insert(PointsAccount).values(user_id=user_id, created_at=utcnow())
                       .on_conflict_do_nothing(index_elements=["user_id"]))
    return db.session.scalars(sa.select(PointsAccount).where(PointsAccount.user_id == user_id).with_for_update()
                              .execution_options(populate_existing=True)).one()


def balance(user_id: int) -> int:
    return int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.amount), 0))
                                 .where(PointsEntry.user_id == user_id)))


def balances(user_ids: list[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    rows = db.session.execute(sa.select(PointsEntry.user_id, sa.func.sum(PointsEntry.amount))
                              .where(PointsEntry.user_id.in_(user_ids)).group_by(PointsEntry.user_id)).all()
    found = {uid: int(total) for uid, total in rows}
    return {uid: found.get(uid, 0) for uid in user_ids}


def _check(points: int) -> None:
    if not isinstance(points, int) or isinstance(points, bool) or not 0 < points <= MAX_POINTS:
        raise ValidationError(_l("The number of points must be more than zero."), code="POINTS_INVALID")


def _done(key: str) -> PointsMovement | None:
    return db.session.get(PointsMovement, key)


def _entry(user_id, lot, kind, amount, key, ref, memo, actor_id, now) -> None:
    lot.remaining += amount
    db.session.add(PointsEntry(user_id=user_id, lot_id=lot.id, kind=kind, amount=amount, key=key,
                               ref_type=ref[0] if ref else None, ref_id=ref[1] if ref else None, memo=memo[:200],
                               actor_id=actor_id, created_at=now))


def earn(user_id: int, points: int, *, kind: str, key: str, ref: tuple[str, int] | None = None, memo: str = "",
         actor_id: int | None = None, now: datetime | None = None,
         settings: PointsSettings | None = None) -> PointsLot | None:
    """Credit `points` as a new lot, in the caller's transaction. None (nothing written) if `key` was done.
    No lock: a new lot is nobody else's to spend or expire before it commits, and the key is unique."""
    _check(points)
    now = now or utcnow()
    if _done(key):
        return None
    lot = PointsLot(user_id=user_id, amount=points, remaining=points, earned_at=now,
                    expires_at=expires_at(now, settings))
    db.session.add(lot)
    db.session.flush()
    db.session.add(PointsEntry(user_id=user_id, lot_id=lot.id, kind=kind, amount=points, key=key,
                               ref_type=ref[0] if ref else None, ref_id=ref[1] if ref else None, memo=memo[:200],
                               actor_id=actor_id, created_at=now))
    db.session.add(PointsMovement(key=key, user_id=user_id, kind=kind, amount=points, created_at=now))
    return lot


def _take(user_id: int, points: int, lots, kind, key, ref, memo, actor_id, now) -> int:
    """Take up to `points` from `lots` in order; returns what was taken."""
    left = points
    for lot in lots:
        if left == 0:
            break
        part = min(lot.remaining, left)
        if part:
            _entry(user_id, lot, kind, -part, key, ref, memo, actor_id, now)
            left -= part
    return points - left


def _live_lots(user_id: int, now: datetime):
    return db.session.scalars(sa.select(PointsLot).where(PointsLot.user_id == user_id, PointsLot.remaining > 0,
                                                         PointsLot.expires_at > now)
                              .order_by(PointsLot.earned_at, PointsLot.id)
                              .execution_options(populate_existing=True)).all()


def available(user_id: int, now: datetime | None = None) -> int:
    """Points the member can spend now (lots not yet expired; a lot past its end waits for the expiry job)."""
    now = now or utcnow()
    return int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(PointsLot.remaining), 0))
                                 .where(PointsLot.user_id == user_id, PointsLot.expires_at > now)))


def spend(user_id: int, points: int, *, key: str, ref: tuple[str, int] | None = None, memo: str = "",
          actor_id: int | None = None, now: datetime | None = None) -> bool:
    """Spend `points`, oldest lots first, under the member's lock. Refuses (PointsInsufficient, nothing written)
    when the unexpired balance is short. False if `key` was already spent."""
    _check(points)
    now = now or utcnow()
    lock(user_id)
    if _done(key):
        return False
    lots = _live_lots(user_id, now)
    have = sum(lot.remaining for lot in lots)
    if have < points:
        raise PointsInsufficient(_l("You do not have enough points: %(need)s needed, %(have)s available.",
                                    need=points, have=have), have=have)
    _take(user_id, points, lots, "spend", key, ref, memo, actor_id, now)
    db.session.add(PointsMovement(key=key, user_id=user_id, kind="spend", amount=points, created_at=now))
    return True


def give_back(spend_key: str, *, memo: str = "", now: datetime | None = None) -> int:
    """Return a spend's points to the lots they came from (an unpaid order closed, a refunded mall order).
    Idempotent; a lot that has ended meanwhile is expired by the next expiry run. Returns points given back."""
    spent = _done(spend_key)
    if spent is None:
        return 0
    lock(spent.user_id)
    key = f"{spend_key}:back"
    if _done(key):
        return 0
    now = now or utcnow()
    rows = db.session.execute(sa.select(PointsEntry.lot_id, PointsEntry.amount, PointsEntry.ref_type,
                                        PointsEntry.ref_id)
                              .where(PointsEntry.key == spend_key, PointsEntry.kind == "spend")).all()
    total = 0
    for lot_id, amount, ref_type, ref_id in rows:
        lot = db.session.get(PointsLot, lot_id, populate_existing=True)
        _entry(spent.user_id, lot, "release", -amount, key, (ref_type, ref_id) if ref_type else None, memo, None,
               now)
        total -= amount
    db.session.add(PointsMovement(key=key, user_id=spent.user_id, kind="release", amount=total, created_at=now))
    return total


def reverse(user_id: int, points: int, *, key: str, ref: tuple[str, int] | None = None, memo: str = "",
            now: datetime | None = None) -> int:
    """Take back earned points (a refund), oldest lots first, never below zero: what is already spent stays
    spent and is recorded as the movement's shortfall. Idempotent by key; returns the points taken back."""
    _check(points)
    now = now or utcnow()
    lock(user_id)
    if _done(key):
        return 0
    lots = db.session.scalars(sa.select(PointsLot).where(PointsLot.user_id == user_id, PointsLot.remaining > 0)
                              .order_by(PointsLot.earned_at, PointsLot.id)
                              .execution_options(populate_existing=True)).all()
    taken = _take(user_id, points, lots, "reverse", key, ref, memo, None, now)
    db.session.add(PointsMovement(key=key, user_id=user_id, kind="reverse", amount=taken,
                                  shortfall=points - taken, created_at=now))
    return taken


def expire_user(user_id: int, now: datetime) -> int:
    """Expire what is left of the member's lots that have ended, under their lock; returns points expired."""
    lock(user_id)
    lots = db.session.scalars(sa.select(PointsLot).where(PointsLot.user_id == user_id, PointsLot.remaining > 0,
                                                         PointsLot.expires_at <= now)
                              .order_by(PointsLot.id).execution_options(populate_existing=True)).all()
    total = 0
    for lot in lots:
        part = lot.remaining
        _entry(user_id, lot, "expire", -part, f"lot:{lot.id}:expire", ("lot", lot.id), "", None, now)
        total += part
    return total


def expire_due(now: datetime | None = None, limit: int = 500) -> int:
    """Expire every ended lot, one member per transaction (commits). Safe to rerun or run twice at once: a lot
    with nothing left is skipped under its owner's lock. Returns points expired."""
    now = now or utcnow()
    users = db.session.scalars(sa.select(PointsLot.user_id).where(PointsLot.remaining > 0,
                                                                  PointsLot.expires_at <= now)
                               .group_by(PointsLot.user_id).order_by(PointsLot.user_id).limit(limit)).all()
    db.session.rollback()
    total = 0
    for user_id in users:
        total += expire_user(user_id, now)
        db.session.commit()
    return total


def expiring(user_id: int, now: datetime | None = None, days: int | None = None) -> tuple[int, datetime | None]:
    """Points ending within `days` (ops' reminder window), and the first end among them."""
    now = now or utcnow()
    days = settings().remind_days if days is None else days
    total, first = db.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(PointsLot.remaining), 0), sa.func.min(PointsLot.expires_at))
        .where(PointsLot.user_id == user_id, PointsLot.remaining > 0, PointsLot.expires_at > now,
               PointsLot.expires_at <= now + timedelta(days=days))).one()
    return int(total), first


def history(user_id: int, page: int = 1, per_page: int = 20):
    return db.paginate(sa.select(PointsEntry).where(PointsEntry.user_id == user_id)
                       .order_by(PointsEntry.id.desc()), page=page, per_page=per_page, error_out=False)
