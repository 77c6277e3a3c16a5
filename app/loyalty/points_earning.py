"""How points are earned and taken back: per yuan paid on a retail order (credited when it is paid, reversed in
proportion when it is refunded), by the daily check-in with its streak bonus, and by ops' grants. Reminders
before points expire."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l

from app.core.audit import audit
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.ledger import periods
from app.loyalty import points
from app.loyalty.models.points import CheckIn, PointsLot, PointsMovement
from app.notifications import services as notifications
from app.notifications.links import link_to

MAX_GRANT = 1_000_000


def for_paid(amount_fen: int, settings=None) -> int:
    """Points a cash amount earns at ops' rate (whole yuan only: ¥9.99 at 1 per ¥1 earns 9)."""
    return (amount_fen // 100) * (settings or points.settings()).earn_per_yuan


def on_order_paid(order, **_) -> None:
    """payments.signals.order_paid: a retail buyer earns points on what they paid, in the same transaction
    (5 statements: the settings, the key, the lot, its entry, the movement; see the retail budgets)."""
    if order.channel != "retail" or order.buyer_id is None or order.amount_fen <= 0:
        return
    s = points.settings()
    earned = for_paid(order.amount_fen, s)
    if earned > 0:
        points.earn(order.buyer_id, earned, kind="earn", key=f"order:{order.id}:earn", ref=("order", order.id),
                    memo=order.order_no, settings=s)


def _take_back(order, refunded_fen: int, key: str) -> None:
    """Take back the points `refunded_fen` of the order's cash earned (never below zero: what the buyer already
    spent stays spent, recorded as the movement's shortfall). Idempotent by `key`."""
    earned = db.session.get(PointsMovement, f"order:{order.id}:earn")
    if earned is None or not order.amount_fen:
        return
    already = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(PointsMovement.amount + PointsMovement.shortfall), 0))
        .where(PointsMovement.key.like(f"order:{order.id}:reverse:%")))
    due = min(earned.amount * refunded_fen // order.amount_fen, earned.amount - already)
    if due > 0:
        points.reverse(order.buyer_id, due, key=key, ref=("order", order.id), memo=order.order_no)


def on_unit_refunded(order, delivery=None, amount_fen=None, key=None, **_) -> None:
    """fulfilment.signals.unit_refunded: a refunded unit's share of the earned points comes back (of a part of a
    delivered unit refunded after-sales: that part's share, keyed by it). Returns None: the unit's money is still
    refunded by whoever owns it."""
    if order.channel == "retail" and order.buyer_id is not None and delivery is not None:
        if key:  # a part of a delivered unit: the refund's own key names the delivery and the part
            _take_back(order, amount_fen, f"order:{order.id}:reverse:{key}")
        else:
            _take_back(order, delivery.amount_fen, f"order:{order.id}:reverse:unit:{delivery.id}")


def on_order_settled(order, **_) -> None:
    """fulfilment.signals.order_settled: a fully refunded order (every unit, or rejected by review) has all its
    earned points taken back and its mall points given back. A delivered order costs no statement here."""
    if order.channel != "retail" or order.buyer_id is None or order.status != "refunded":
        return
    points.give_back(f"order:{order.id}:mall", memo=order.order_no)
    _take_back(order, order.amount_fen, f"order:{order.id}:reverse:all")


def streak_points(streak: int) -> int:
    table = points.settings().checkin_points or points.DEFAULT_CHECKIN
    return int(table[min(streak, len(table)) - 1])


def checkin_state(user_id: int, now: datetime | None = None) -> dict:
    """Today's check-in (or None) and the streak that today's check-in would make or made."""
    today = periods.local_day(now or utcnow())
    last = db.session.scalars(sa.select(CheckIn).where(CheckIn.user_id == user_id).order_by(CheckIn.day.desc())
                              .limit(1)).first()
    done = last if last is not None and last.day == today else None
    if done:
        streak = done.streak
    elif last is not None and last.day == today - timedelta(days=1):
        streak = last.streak + 1
    else:
        streak = 1
    return {"today": done, "streak": streak, "points": done.points if done else streak_points(streak)}


def check_in(user_id: int, now: datetime | None = None) -> CheckIn:
    """Check in for today (local day) and earn its streak points; commits. A second check-in the same day is
    refused (ALREADY_CHECKED_IN) and changes nothing, also when two clicks race (the unique key decides)."""
    now = now or utcnow()
    state = checkin_state(user_id, now)
    if state["today"] is not None:
        raise ValidationError(_l("You have already checked in today."), code="ALREADY_CHECKED_IN")
    day = periods.local_day(now)
    row = CheckIn(user_id=user_id, day=day, streak=state["streak"], points=state["points"], created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except sa.exc.IntegrityError:
        db.session.rollback()
        raise ValidationError(_l("You have already checked in today."), code="ALREADY_CHECKED_IN") from None
    if row.points > 0:
        points.earn(user_id, row.points, kind="checkin", key=f"checkin:{user_id}:{day.isoformat()}",
                    ref=("checkin", row.id), memo=day.isoformat(), now=now)
    db.session.commit()
    return row


def _check_grant(amount: int, reason: str) -> str:
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_GRANT:
        raise ValidationError(_l("Points to grant must be between 1 and %(max)s.", max=MAX_GRANT),
                              code="POINTS_INVALID", field="points")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_l("Say why these points are granted."), code="REASON_REQUIRED", field="reason")
    return reason


def check_grant_params(params: dict) -> None:
    """The segment action's check: points a whole number in range, a reason given."""
    raw = str(params.get("points") or "")
    _check_grant(int(raw) if raw.isdigit() else 0, params.get("reason") or "")


def grant_rows(actor_id: int | None, user_ids: list[int], amount: int, reason: str, *, key: str) -> int:
    """Give each user `amount` points once per `key`, audited, in the caller's transaction."""
    reason = _check_grant(amount, reason)
    count = 0
    for uid in sorted(set(user_ids)):
        if points.earn(uid, amount, kind="grant", key=f"grant:{key}:{uid}", memo=reason, actor_id=actor_id):
            audit(actor_id, "points.grant", "user", uid, points=amount, reason=reason[:200])
            count += 1
    return count


def grant(actor_id: int | None, user_ids: list[int], amount: int, reason: str) -> int:
    """Campaign reward by ops: give each user `amount` points with a reason, audited; commits."""
    count = grant_rows(actor_id, user_ids, amount, reason, key=f"ops:{actor_id}:{utcnow():%Y%m%d%H%M%S%f}")
    db.session.commit()
    return count


def remind_expiring(now: datetime | None = None) -> int:
    """Tell each member whose points end within ops' reminder window, once per lot (reminded_at, and the
    notification's dedupe key); commits. Rerun or killed halfway, nobody hears twice."""
    now = now or utcnow()
    days = points.settings().remind_days
    rows = db.session.execute(
        sa.select(PointsLot.user_id, sa.func.sum(PointsLot.remaining), sa.func.min(PointsLot.expires_at),
                  sa.func.min(PointsLot.id))
        .where(PointsLot.remaining > 0, PointsLot.reminded_at.is_(None), PointsLot.expires_at > now,
               PointsLot.expires_at <= now + timedelta(days=days))
        .group_by(PointsLot.user_id).order_by(PointsLot.user_id)).all()
    sent = 0
    for user_id, total, first, lot_id in rows:
        if notifications.notify(user_id, "points_expiring",
                                {"points": int(total), "expires_at": format_datetime(first, "yyyy-MM-dd HH:mm")},
                                dedupe_key=f"points_expiring:{user_id}:{lot_id}", link=link_to("consumer.points")):
            sent += 1
        db.session.execute(sa.update(PointsLot).where(PointsLot.user_id == user_id, PointsLot.remaining > 0,
                                                      PointsLot.reminded_at.is_(None), PointsLot.expires_at > now,
                                                      PointsLot.expires_at <= now + timedelta(days=days))
                           .values(reminded_at=now))
        db.session.commit()
    return sent
