"""Growth value (成长值): a ledger of rows per member — earned by paid retail orders at the ops-set rate per yuan,
taken back by refunds in proportion, adjusted by hand with an audit line. The value is the sum of the rows
counting inside the window (LEVEL_WINDOW_DAYS), never shown below zero. Every row carries the key of the event
that made it (unique), so a retried payment or refund adds nothing twice."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from app.accounts.models import Role, User
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.loyalty.models import GrowthEntry, LevelSettings
from app.orders.models import Order

#: The largest manual adjustment ops may make at once.
MAX_ADJUST = 1_000_000


def window_start(at: datetime) -> datetime:
    return at - timedelta(days=current_app.config["LEVEL_WINDOW_DAYS"])


def value_of(user_id: int, at: datetime | None = None) -> int:
    """The member's growth value at `at` (now): the rows counting in the window before it, at least 0."""
    at = at or utcnow()
    total = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(GrowthEntry.amount), 0)).where(
        GrowthEntry.user_id == user_id, GrowthEntry.counts_at > window_start(at), GrowthEntry.counts_at <= at))
    return max(int(total), 0)


def settings() -> LevelSettings:
    row = db.session.get(LevelSettings, 1)
    if row is None:
        row = LevelSettings(id=1, version=1, growth_per_yuan_pct=100)
        db.session.add(row)
        db.session.flush()
    return row


def rate_and_version() -> tuple[int, int | None]:
    """The growth rate and the levels' version, in one statement (defaults when the settings row is missing)."""
    row = db.session.execute(sa.select(LevelSettings.growth_per_yuan_pct, LevelSettings.version)
                             .where(LevelSettings.id == 1)).first()
    return (row[0], row[1]) if row else (100, None)


def _add(**values) -> bool:
    """Write the row unless its key is taken (a retry): False then, and nothing written. One INSERT … ON
    CONFLICT DO NOTHING where the database has it (it runs in the paying transaction: no savepoint)."""
    values.setdefault("created_at", utcnow())
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(db.session.get_bind().dialect.name)
    if insert is not None:
        return db.session.execute(insert(GrowthEntry).values(**values)
                                  .on_conflict_do_nothing(index_elements=["key"])
                                  .returning(GrowthEntry.id)).scalar() is not None
    try:
        with db.session.begin_nested():
            db.session.add(GrowthEntry(**values))
    except IntegrityError:
        return False
    return True


def earn(order: Order, rate_pct: int | None = None) -> bool:
    """payments.order_paid, in the paying transaction: a paid retail order earns its growth value (at the
    ops-set rate per yuan). False when it earns nothing or earned already."""
    if order.channel != "retail" or order.buyer_id is None or order.amount_fen <= 0:
        return False
    rate_pct = rate_and_version()[0] if rate_pct is None else rate_pct
    amount = order.amount_fen * rate_pct // 10000
    if amount <= 0:
        return False
    return _add(user_id=order.buyer_id, kind="earn", amount=amount, key=f"order:{order.id}:earn",
                order_id=order.id, counts_at=order.paid_at or utcnow(), note="")


def reverse(order: Order, amount_fen: int, key: str) -> bool:
    """A refund of `amount_fen` of the order takes back that share of what it earned (never more than is left
    of it). The reversal counts when the earn did, so the two leave the window together."""
    earned = db.session.scalars(sa.select(GrowthEntry).where(GrowthEntry.key == f"order:{order.id}:earn")).first()
    if earned is None or amount_fen <= 0 or order.amount_fen <= 0:
        return False
    taken = -db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(GrowthEntry.amount), 0)).where(
        GrowthEntry.order_id == order.id, GrowthEntry.kind == "reversal"))
    amount = min(earned.amount * min(amount_fen, order.amount_fen) // order.amount_fen, earned.amount - taken)
    if amount <= 0:
        return False
    return _add(user_id=earned.user_id, kind="reversal", amount=-amount, key=f"refund:{key}"[:120],
                order_id=order.id, counts_at=earned.counts_at, note="")


def adjust(actor_id: int, user_id: int, amount: int, note: str) -> GrowthEntry:
    """Ops add or take growth value by hand (audited). Refused: no reason, zero or out of range, a member that
    is not a consumer, or taking more than the member has. Does not commit."""
    note = (note or "").strip()
    user = db.session.get(User, user_id)
    if user is None or user.role not in (Role.consumer, Role.employee):
        raise NotFound(_l("Member not found."))
    if not isinstance(amount, int) or amount == 0 or abs(amount) > MAX_ADJUST:
        raise ValidationError(_l("Enter a whole number between %(min)s and %(max)s, not 0.", min=-MAX_ADJUST,
                                 max=MAX_ADJUST), field="amount", code="GROWTH_AMOUNT")
    if not note or len(note) > 200:
        raise ValidationError(_l("Say why (at most 200 characters)."), field="note", code="GROWTH_NOTE")
    now = utcnow()
    if amount < 0 and value_of(user_id, now) + amount < 0:
        raise ValidationError(_l("The member has only %(value)s growth value: it cannot go below zero.",
                                 value=value_of(user_id, now)), field="amount", code="GROWTH_NEGATIVE")
    entry = GrowthEntry(user_id=user_id, kind="adjust", amount=amount, counts_at=now, actor_id=actor_id,
                        key=f"adjust:{user_id}:{now.isoformat()}:{actor_id}", note=note)
    db.session.add(entry)
    db.session.flush()
    audit(actor_id, "growth.adjust", "user", user_id, amount=amount, note=note)
    return entry


def history(user_id: int, limit: int = 100) -> list[GrowthEntry]:
    return list(db.session.scalars(sa.select(GrowthEntry).where(GrowthEntry.user_id == user_id)
                                   .order_by(GrowthEntry.id.desc()).limit(limit)))
