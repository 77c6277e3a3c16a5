"""Stock: allocation that never hands one code to two orders, and derived stock counts."""

from datetime import datetime

import sqlalchemy as sa

from app.catalog import services as catalog
from app.catalog.models import SkuType
from app.core.errors import InsufficientStock
from app.core.ids import utcnow
from app.extensions import db
from app.inventory import counts
from app.inventory.models import Code, CodeStatus


def _sellable(sku_id: int | sa.BindParameter, now: datetime | sa.BindParameter,
              pool_id: int | sa.BindParameter | None = None):
    """Plain codes of the SKU that can be sold now: from one channel pool, or (pool_id None) from the shared
    stock, which never includes ring-fenced codes."""
    return sa.and_(Code.sku_id == sku_id, Code.status == CodeStatus.available, Code.max_uses == 1,
                   Code.pool_id.is_(None) if pool_id is None else Code.pool_id == pool_id,
                   sa.or_(Code.expires_at.is_(None), Code.expires_at > now))


def _pick(sku_id: int | sa.BindParameter, now: datetime | sa.BindParameter, quantity: int | sa.BindParameter,
          pool_id: int | sa.BindParameter | None) -> sa.Select:
    """Values, or bound parameters (claim_delivered's statement built once)."""
    return (sa.select(Code.id).where(_sellable(sku_id, now, pool_id))
            .order_by(Code.expires_at.is_(None), Code.expires_at, Code.id)
            .limit(quantity).with_for_update(skip_locked=True))


def claim(sku_id: int, order_id: int, quantity: int, pool_id: int | None = None) -> int:
    """Reserve up to `quantity` sellable codes for an order in one statement; returns how many it got.

    PostgreSQL: the inner `FOR UPDATE SKIP LOCKED` lets concurrent buyers claim different rows without
    waiting. SQLite: the session runs in a `BEGIN IMMEDIATE` transaction, so writers are serialised.
    The outer `status = available` re-check makes a row claimed meanwhile impossible to take twice.
    """
    now = utcnow()
    return update_picked(_pick(sku_id, now, quantity, pool_id), Code.status == CodeStatus.available,
                         status=CodeStatus.reserved, order_id=order_id, reserved_at=now)


#: claim_delivered()'s statement per (dialect, from a pool or not), built once with bound parameters: building
#: the CTE, the UPDATE and the RETURNING cost more CPU than running them. Statements are immutable and safe to
#: share between threads.
_CLAIM_DELIVERED: dict[tuple[str, bool], sa.Update] = {}


def _claim_delivered_statement(dialect: str, pooled: bool) -> sa.Update:
    stmt = _CLAIM_DELIVERED.get((dialect, pooled))
    if stmt is None:
        now = sa.bindparam("p_now", type_=Code.expires_at.type)
        pick = _pick(sa.bindparam("p_sku", type_=sa.Integer), now, sa.bindparam("p_qty", type_=sa.Integer),
                     sa.bindparam("p_pool", type_=sa.Integer) if pooled else None)
        stmt = (_picked_update(pick, Code.status == CodeStatus.available)
                .values(status=CodeStatus.delivered, order_id=sa.bindparam("p_order", type_=sa.Integer),
                        reserved_at=now, delivered_at=now)
                .returning(Code.id))
        _CLAIM_DELIVERED[(dialect, pooled)] = stmt
    return stmt


def claim_delivered(sku_id: int, order_id: int, quantity: int, pool_id: int | None = None) -> list[int]:
    """Like claim(), for an order whose codes are issued in the same transaction: the codes go straight to
    delivered (reserved and delivered now) in the same single statement; returns their ids."""
    db.session.flush()  # run on the connection (no ORM result to build): the order must be written first
    conn = db.session.connection()
    params = {"p_now": utcnow(), "p_sku": sku_id, "p_qty": quantity, "p_order": order_id}
    if pool_id is not None:
        params["p_pool"] = pool_id
    return list(conn.scalars(_claim_delivered_statement(conn.dialect.name, pool_id is not None), params))


def update_picked(pick: sa.Select, *where, **values) -> int:
    """UPDATE the code rows `pick` selects, in one statement; returns how many changed.

    On PostgreSQL the pick is a materialised CTE: as `id IN (subquery)`, a `LIMIT … FOR UPDATE SKIP LOCKED`
    subquery may run again for each row and update more rows than the limit. SQLite (one writer at a time,
    and no rowcount for statements that start with WITH) keeps the plain subquery.
    """
    return db.session.execute(_picked_update(pick, *where).values(**values)).rowcount


def _picked_update(pick: sa.Select, *where) -> sa.Update:
    if db.session.get_bind().dialect.name == "sqlite":
        match = Code.id.in_(pick.scalar_subquery())
    else:
        match = Code.id == pick.cte("picked").prefix_with("MATERIALIZED").c.id
    return sa.update(Code).where(match, *where).execution_options(synchronize_session=False)


def reserve(sku_id: int, order_id: int, quantity: int, pool_id: int | None = None) -> int:
    """Claim `quantity` sellable codes for an order, all or nothing (the caller rolls back on the error)."""
    got = claim(sku_id, order_id, quantity, pool_id)
    if got < quantity:
        raise InsufficientStock(available=got)
    return got


def deliver_batch(order_id: int, limit: int) -> int:
    """Mark up to `limit` of an order's reserved codes delivered, lowest ids first; returns how many."""
    pick = (sa.select(Code.id).where(Code.order_id == order_id, Code.status == CodeStatus.reserved)
            .order_by(Code.id).limit(limit))
    return update_picked(pick, Code.status == CodeStatus.reserved, status=CodeStatus.delivered,
                         delivered_at=utcnow())


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
    """Shared (un-pooled) sellable units per SKU: a plain code is one unit, a shared (loop) code its unclaimed
    slots. code_counts' sums (exact: written in the transactions that change the codes) less the expired codes,
    so no page view counts millions of rows. A SKU is listed when it has a sellable code."""
    have = counts.shared_available(sku_ids)
    expired = _expired(sku_ids)
    out = {}
    for sku_id, (codes, units) in have.items():
        gone_codes, gone_units, _plain = expired.get(sku_id, (0, 0, 0))
        if codes > gone_codes:
            out[sku_id] = units - gone_units
    return out


def shared_plain_counts(sku_ids: list[int]) -> dict[int, int]:
    """Un-pooled single-use codes sellable now per SKU (what a wholesale order may claim from the shared stock:
    it never takes slots of shared loop codes): code_counts' codes less the loop codes (the small partial index
    ix_codes_shared_loop) and the expired single-use ones. A SKU is listed when it has one."""
    if not sku_ids:
        return {}
    have = counts.shared_available(sku_ids)
    loops = dict(db.session.execute(
        sa.select(Code.sku_id, sa.func.count())
        .where(Code.status == CodeStatus.available, Code.pool_id.is_(None), Code.max_uses > 1,
               Code.sku_id.in_(sku_ids))
        .group_by(Code.sku_id)).all())
    expired = _expired(sku_ids)
    out = {}
    for sku_id, (codes, _units) in have.items():
        n = codes - loops.get(sku_id, 0) - expired.get(sku_id, (0, 0, 0))[2]
        if n > 0:
            out[sku_id] = n
    return out


def pool_levels(pool_ids: list[int]) -> dict[int, int]:
    """Sellable codes left in each channel pool."""
    if not pool_ids:
        return {}
    now = utcnow()
    return dict(db.session.execute(
        sa.select(Code.pool_id, sa.func.count()).where(Code.pool_id.in_(pool_ids), Code.status == CodeStatus.available,
                                                       sa.or_(Code.expires_at.is_(None), Code.expires_at > now))
        .group_by(Code.pool_id)).all())


def stock_summary() -> dict[int, dict[str, int]]:
    """Per SKU, its codes in each status: summed from code_counts (kept by triggers with the code rows)."""
    by_status, _units, _read = counts.by_sku()
    return {sku_id: {**{s.value: 0 for s in CodeStatus}, **per} for sku_id, per in by_status.items()}


def _expired(sku_ids: list[int] | None = None) -> dict[int, tuple[int, int, int]]:
    """Per SKU, the shared codes still marked available but past their expiry: (codes, their unclaimed slots,
    the single-use ones among them). The start of the partial index ix_codes_sellable (expires_at, sku_id), read
    from the index alone on PostgreSQL."""
    q = (sa.select(Code.sku_id, sa.func.count(), sa.cast(sa.func.sum(Code.max_uses - Code.uses), sa.BigInteger),
                   sa.func.count().filter(Code.max_uses == 1))
         .where(Code.status == CodeStatus.available, Code.pool_id.is_(None), Code.expires_at <= utcnow())
         .group_by(Code.sku_id))
    if sku_ids is not None:
        q = q.where(Code.sku_id.in_(sku_ids))
    return {sku_id: (int(n), int(slots), int(plain)) for sku_id, n, slots, plain in db.session.execute(q).all()}


def stock_table(low_stock: int) -> list[dict]:
    """Per SKU: sellable units and every status count. The counts are code_counts' sums (exact: kept in the
    transactions that change the codes), less the expired codes, so no page view counts every code."""
    skus = catalog.list_skus()
    by_status, units, _read = counts.by_sku()
    expired = {sku_id: slots for sku_id, (_n, slots, _plain) in _expired().items()}
    rows = []
    for sku in skus:
        per = {**{s.value: 0 for s in CodeStatus}, **by_status.get(sku.id, {})}
        n = units.get(sku.id, 0) - expired.get(sku.id, 0)
        rows.append({"sku": sku, "counts": per, "sellable": n,
                     "expired": per.get(CodeStatus.available, 0) - n,
                     "low": sku.active and sku.type == SkuType.card_code and n < low_stock})
    return rows
