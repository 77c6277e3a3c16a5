"""Stock: allocation that never hands one code to two orders, and derived stock counts."""

from datetime import datetime

import sqlalchemy as sa

from app.core.errors import InsufficientStock
from app.core.ids import utcnow
from app.extensions import db
from app.inventory.models import Code, CodeStatus


def _sellable(sku_id: int, now: datetime):
    return sa.and_(Code.sku_id == sku_id, Code.status == CodeStatus.available, Code.max_uses == 1,
                   sa.or_(Code.expires_at.is_(None), Code.expires_at > now))


def reserve(sku_id: int, order_id: int, quantity: int) -> list[int]:
    """Claim `quantity` sellable codes for an order, all or nothing.

    PostgreSQL: `FOR UPDATE SKIP LOCKED` lets concurrent buyers claim different rows without waiting.
    SQLite: the session runs in a `BEGIN IMMEDIATE` transaction, so writers are serialised.
    """
    now = utcnow()
    ids = db.session.scalars(
        sa.select(Code.id).where(_sellable(sku_id, now))
        .order_by(Code.expires_at.is_(None), Code.expires_at, Code.id)
        .limit(quantity).with_for_update(skip_locked=True)
    ).all()
    if len(ids) < quantity:
        raise InsufficientStock(available=len(ids))
    db.session.execute(
        sa.update(Code).where(Code.id.in_(ids), Code.status == CodeStatus.available)
        .values(status=CodeStatus.reserved, order_id=order_id, reserved_at=now)
        .execution_options(synchronize_session=False)
    )
    return list(ids)


def release(order_id: int) -> int:
    """Return an order's reserved (never delivered) codes to stock."""
    return db.session.execute(
        sa.update(Code).where(Code.order_id == order_id, Code.status == CodeStatus.reserved)
        .values(status=CodeStatus.available, order_id=None, reserved_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount


def mark_delivered(order_id: int) -> list[Code]:
    now = utcnow()
    codes = db.session.scalars(
        sa.select(Code).where(Code.order_id == order_id, Code.status == CodeStatus.reserved).order_by(Code.id)
    ).all()
    db.session.execute(
        sa.update(Code).where(Code.id.in_([c.id for c in codes]), Code.status == CodeStatus.reserved)
        .values(status=CodeStatus.delivered, delivered_at=now).execution_options(synchronize_session=False)
    )
    return list(codes)


def available_counts(sku_ids: list[int] | None = None) -> dict[int, int]:
    """Sellable units per SKU, counted from the rows themselves (no counter to drift or contend): a plain
    code is one unit, a shared (loop) code its unclaimed slots."""
    now = utcnow()
    q = (sa.select(Code.sku_id, sa.cast(sa.func.sum(Code.max_uses - Code.uses), sa.BigInteger))
         .where(Code.status == CodeStatus.available, sa.or_(Code.expires_at.is_(None), Code.expires_at > now))
         .group_by(Code.sku_id))
    if sku_ids is not None:
        q = q.where(Code.sku_id.in_(sku_ids))
    return {sku_id: int(n) for sku_id, n in db.session.execute(q).all()}


def stock_summary() -> list[dict]:
    rows = db.session.execute(
        sa.select(Code.sku_id, Code.status, sa.func.count()).group_by(Code.sku_id, Code.status)
    ).all()
    out: dict[int, dict] = {}
    for sku_id, status, n in rows:
        out.setdefault(sku_id, {s.value: 0 for s in CodeStatus})[status] = n
    return out
