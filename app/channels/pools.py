"""Channel pools: codes ring-fenced for one reseller. A pooled code carries the pool's id; the shared stock
query excludes every pooled code and a pool query takes only its own, so no other channel can drain it."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.catalog.models import Sku, SkuSource, SkuType
from app.channels.models import ChannelPool, Reseller
from app.core.audit import audit
from app.core.errors import InsufficientStock, NotFound, ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.inventory import services as inventory
from app.inventory.models import Code, CodeStatus


def poolable(sku: Sku) -> bool:
    """Only one-per-unit stock can be ring-fenced: supplier units are bought per order, shared codes are
    sold slot by slot, bundles are ring-fenced through their components."""
    return sku.type in (SkuType.card_code, SkuType.link) and sku.source == SkuSource.stock


def pool_for(reseller_id: int, sku_id: int) -> ChannelPool | None:
    return db.session.scalars(sa.select(ChannelPool).where(ChannelPool.reseller_id == reseller_id,
                                                           ChannelPool.sku_id == sku_id)).first()


def allocate(sku: Sku, reseller: Reseller, quantity: int, actor_id: int | None,
             allow_shared: bool | None = None) -> ChannelPool:
    """Move `quantity` available shared codes into the reseller's pool, all or nothing. Commits."""
    if not isinstance(quantity, int) or quantity < 1:
        raise ValidationError(_l("Quantity must be a whole number of at least 1."), code="QUANTITY_INVALID")
    if not poolable(sku):
        raise ValidationError(_l("Only stocked card codes and links can be ring-fenced."), code="SKU_NOT_POOLABLE")
    pool = pool_for(reseller.id, sku.id)
    if pool is None:
        pool = ChannelPool(reseller_id=reseller.id, sku_id=sku.id, allow_shared=bool(allow_shared))
        db.session.add(pool)
        db.session.flush()
    elif allow_shared is not None:
        pool.allow_shared = allow_shared
    now = utcnow()
    pick = (sa.select(Code.id).where(Code.sku_id == sku.id, Code.status == CodeStatus.available,
                                     Code.max_uses == 1, Code.pool_id.is_(None),
                                     sa.or_(Code.expires_at.is_(None), Code.expires_at > now))
            .order_by(Code.id).limit(quantity).with_for_update(skip_locked=True))
    moved = inventory.update_picked(pick, Code.status == CodeStatus.available, Code.pool_id.is_(None),
                                    pool_id=pool.id)
    if moved < quantity:
        db.session.rollback()
        raise InsufficientStock(_l("Only %(n)s unallocated codes are in stock.", n=moved), available=moved)
    audit(actor_id, "pool.allocate", "channel_pool", pool.id, sku=sku.sku, reseller_id=reseller.id,
          quantity=quantity)
    db.session.commit()
    return pool


def reclaim(pool: ChannelPool, quantity: int | None, actor_id: int | None) -> int:
    """Return unused ring-fenced codes to the shared stock (all of them when `quantity` is None). Codes an
    order has already claimed are not touched. Commits; returns how many moved."""
    if quantity is not None and (not isinstance(quantity, int) or quantity < 1):
        raise ValidationError(_l("Quantity must be a whole number of at least 1."), code="QUANTITY_INVALID")
    pick = (sa.select(Code.id).where(Code.pool_id == pool.id, Code.status == CodeStatus.available)
            .order_by(Code.id.desc()).with_for_update(skip_locked=True))
    if quantity is not None:
        pick = pick.limit(quantity)
    moved = inventory.update_picked(pick, Code.status == CodeStatus.available, Code.pool_id == pool.id,
                                    pool_id=None)
    audit(actor_id, "pool.reclaim", "channel_pool", pool.id, quantity=moved)
    db.session.commit()
    return moved


def set_allow_shared(pool: ChannelPool, allow: bool, actor_id: int | None) -> None:
    pool.allow_shared = allow
    audit(actor_id, "pool.allow_shared", "channel_pool", pool.id, allow=allow)
    db.session.commit()


def pools_of(reseller_id: int) -> list[dict]:
    """The reseller's pools with what is left in each."""
    pools = db.session.scalars(sa.select(ChannelPool).options(sa.orm.joinedload(ChannelPool.sku))
                               .where(ChannelPool.reseller_id == reseller_id).order_by(ChannelPool.id)).all()
    levels = inventory.pool_levels([p.id for p in pools])
    return [{"pool": p, "sku": p.sku, "available": levels.get(p.id, 0)} for p in pools]


#: Rows per page of the console's pool list.
PER_PAGE = 50


def pools_page(page: int = 1):
    """A page of every pool; its items are dicts: the pool, its SKU and reseller, and the units available."""
    result = db.paginate(sa.select(ChannelPool).options(sa.orm.joinedload(ChannelPool.sku),
                                                        sa.orm.joinedload(ChannelPool.reseller))
                         .order_by(ChannelPool.id), page=page, per_page=PER_PAGE, error_out=False)
    levels = inventory.pool_levels([p.id for p in result.items])
    result.items = [{"pool": p, "sku": p.sku, "reseller": p.reseller, "available": levels.get(p.id, 0)}
                    for p in result.items]
    return result


def counts_by_reseller(reseller_ids: list[int]) -> dict[int, int]:
    """How many pools each of these resellers has (one query)."""
    return dict(db.session.execute(sa.select(ChannelPool.reseller_id, sa.func.count())
                                   .where(ChannelPool.reseller_id.in_(reseller_ids))
                                   .group_by(ChannelPool.reseller_id)).all()) if reseller_ids else {}


def get(pool_id: int) -> ChannelPool:
    pool = db.session.get(ChannelPool, pool_id)
    if pool is None:
        raise NotFound(_l("Pool not found."))
    return pool
