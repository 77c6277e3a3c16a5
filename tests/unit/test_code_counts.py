"""code_counts, kept by triggers on codes, always sums to what counting the code rows gives: after imports,
claims, deliveries, releases, pool moves, shared codes' slots, deletes and rollbacks, and across folds."""

from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.inventory import counts
from app.inventory import services as inventory
from app.inventory.models import Code, CodeCount
from app.orders.models import Order


def _counted() -> dict:
    """What counting every code row gives, per (SKU, status, pooled): (codes, slots)."""
    rows = db.session.execute(sa.select(Code.sku_id, Code.status, Code.pool_id.is_not(None), sa.func.count(),
                                        sa.func.sum(Code.max_uses - Code.uses))
                              .group_by(Code.sku_id, Code.status, Code.pool_id.is_not(None))).all()
    return {(s, st, bool(p)): (int(n), int(u)) for s, st, p, n, u in rows}


def _kept() -> dict:
    c = CodeCount
    rows = db.session.execute(sa.select(c.sku_id, c.status, c.pooled, sa.func.sum(c.codes), sa.func.sum(c.units))
                              .group_by(c.sku_id, c.status, c.pooled)).all()
    return {(s, st, bool(p)): (int(n), int(u)) for s, st, p, n, u in rows if n or u}


def _order(sku_id: int, no: str) -> int:
    o = Order(order_no=no, sku_id=sku_id, quantity=1, unit_price_fen=1, amount_fen=1)
    db.session.add(o)
    db.session.flush()
    return o.id


def test_counts_follow_every_change_of_the_codes(ctx, make_sku, stock, make_reseller):
    from app.channels.models import ChannelPool

    a, b = make_sku(), make_sku()
    stock(a, 6)
    stock(b, 3, max_uses=5)  # shared codes: 15 slots
    stock(b, 2, expires_at=datetime(2020, 1, 1))
    assert _kept() == _counted() and _counted()[(a, "available", False)] == (6, 6)

    first, second = _order(a, "CC-1"), _order(a, "CC-2")
    assert inventory.claim(a, first, 2) == 2
    assert inventory.claim(a, second, 1) == 1
    assert _kept() == _counted()
    inventory.deliver_batch(first, 1)
    inventory.mark_delivered(first)
    inventory.release(second)
    db.session.execute(sa.update(Code).where(Code.sku_id == b, Code.max_uses == 5).values(uses=Code.uses + 2))
    r = make_reseller()
    pool = ChannelPool(reseller_id=r["id"], sku_id=a)
    db.session.add(pool)
    db.session.flush()
    db.session.execute(sa.update(Code).where(Code.sku_id == a, Code.status == "available").values(pool_id=pool.id))
    assert _kept() == _counted()
    assert _counted()[(b, "available", False)] == (5, 3 * 3 + 2)

    with db.session.begin_nested() as sp:  # a rolled-back change leaves no count behind
        db.session.execute(sa.update(Code).where(Code.sku_id == b).values(status="void"))
        sp.rollback()
    db.session.execute(sa.delete(Code).where(Code.sku_id == b, Code.expires_at.is_not(None)))
    assert _kept() == _counted()

    before = _kept()
    counts.fold()
    assert _kept() == before == _counted()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CodeCount)) == len(before)


def test_the_stock_table_reads_the_counts(ctx, make_sku, stock):
    sku = make_sku()
    stock(sku, 4)
    stock(sku, 2, expires_at=datetime(2020, 1, 1))
    row = next(r for r in inventory.stock_table(low_stock=1) if r["sku"].id == sku)
    assert (row["counts"]["available"], row["sellable"], row["expired"]) == (6, 4, 2)
    counts.fold()
    row = next(r for r in inventory.stock_table(low_stock=1) if r["sku"].id == sku)
    assert (row["counts"]["available"], row["sellable"], row["expired"]) == (6, 4, 2)


def test_a_rebuild_counts_what_the_triggers_did_not_see(ctx, make_sku, stock):
    sku = make_sku()
    stock(sku, 3)
    conn = db.session.connection()
    counts.uninstall(conn)
    db.session.execute(sa.update(Code).where(Code.sku_id == sku).values(status="void"))
    counts.install(conn)  # counts again, and the triggers are back
    assert _kept() == _counted()
    db.session.execute(sa.update(Code).where(Code.sku_id == sku).values(status="available"))
    assert _kept() == _counted()


def _counted_sellable(now: datetime) -> tuple[dict, dict]:
    """The shop's and the reseller offer's stock as counting the rows gives it: un-pooled sellable slots, and
    un-pooled sellable single-use codes, per SKU."""
    live = sa.and_(Code.status == "available", Code.pool_id.is_(None),
                   sa.or_(Code.expires_at.is_(None), Code.expires_at > now))
    units = dict(db.session.execute(sa.select(Code.sku_id, sa.func.sum(Code.max_uses - Code.uses)).where(live)
                                    .group_by(Code.sku_id)).all())
    plain = dict(db.session.execute(sa.select(Code.sku_id, sa.func.count()).where(live, Code.max_uses == 1)
                                    .group_by(Code.sku_id)).all())
    return {k: int(v) for k, v in units.items()}, plain


def test_available_counts_read_the_counts_with_the_same_meaning(ctx, make_sku, stock, make_reseller):
    """Plain and loop codes in one SKU, used slots, expired codes of both kinds, ring-fenced codes, a SKU with only
    expired codes and one with only loop codes: the same figures as counting the rows."""
    from app.channels.models import ChannelPool
    from app.core.ids import utcnow

    mixed, dead, loops, pooled = make_sku(), make_sku(), make_sku(), make_sku()
    stock(mixed, 5)
    stock(mixed, 2, max_uses=4)
    stock(mixed, 3, expires_at=datetime(2020, 1, 1))
    stock(mixed, 1, max_uses=3, expires_at=datetime(2020, 1, 1))
    stock(mixed, 2, expires_at=datetime(2099, 1, 1))
    stock(dead, 2, expires_at=datetime(2020, 1, 1))
    stock(loops, 2, max_uses=6)
    stock(pooled, 4)
    db.session.execute(sa.update(Code).where(Code.sku_id == mixed, Code.max_uses == 4).values(uses=1))
    r = make_reseller()
    pool = ChannelPool(reseller_id=r["id"], sku_id=pooled)
    db.session.add(pool)
    db.session.flush()
    db.session.execute(sa.update(Code).where(Code.id.in_(sa.select(Code.id).where(Code.sku_id == pooled).limit(3)))
                       .values(pool_id=pool.id))
    skus = [mixed, dead, loops, pooled]
    units, plain = _counted_sellable(utcnow())
    assert units == {mixed: 5 + 2 * 3 + 2, loops: 12, pooled: 1}
    assert plain == {mixed: 7, pooled: 1}
    for _ in range(2):  # before and after a fold
        assert inventory.available_counts(skus) == units
        assert {k: v for k, v in inventory.available_counts().items() if k in skus} == units
        assert inventory.available_counts([dead]) == {}
        assert inventory.shared_plain_counts(skus) == plain
        assert inventory.shared_plain_counts([]) == {}
        counts.fold()
