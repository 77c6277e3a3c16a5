"""What a reseller pays: its tier's price (a per-SKU override, else retail less the tier discount); a
sub-agent pays what its parent set, never below the parent's own cost nor above ops' bound."""

import sqlalchemy as sa

from app.catalog.models import Sku
from app.channels.models import AgentPrice, Reseller, Tier, TierPrice
from app.extensions import db


def percent_of(fen: int, bp: int) -> int:
    """`fen` × bp / 10000, rounded half up (basis points: 1250 = 12.50%)."""
    return (fen * bp * 2 + 10000) // 20000


def tier_price(tier: Tier, sku: Sku, overrides: dict[int, int] | None = None) -> int:
    if overrides is None:
        overrides = tier_overrides(tier.id, [sku.id])
    if sku.id in overrides:
        return overrides[sku.id]
    return sku.price_fen - percent_of(sku.price_fen, tier.discount_bp)


def tier_overrides(tier_id: int, sku_ids: list[int] | None = None) -> dict[int, int]:
    q = sa.select(TierPrice.sku_id, TierPrice.price_fen).where(TierPrice.tier_id == tier_id)
    if sku_ids is not None:
        q = q.where(TierPrice.sku_id.in_(sku_ids))
    return dict(db.session.execute(q).all())


def agent_bounds(parent: Reseller, sku: Sku, parent_cost: int | None = None) -> tuple[int, int]:
    """(lowest, highest) price a parent may set for its sub-agents: its own cost, up to its tier's markup
    bound and never above retail (but never below its cost either)."""
    cost = unit_price(parent, sku) if parent_cost is None else parent_cost
    tier = parent.tier
    markup = tier.max_agent_markup_bp if tier else 0
    return cost, max(cost, min(sku.price_fen, cost + percent_of(cost, markup)))


def prices_for(reseller: Reseller, skus: list[Sku]) -> dict[int, int]:
    """This reseller's unit price of each SKU, in a fixed number of queries."""
    ids = [s.id for s in skus]
    if reseller.parent_id is None:
        if reseller.tier is None:
            return {s.id: s.price_fen for s in skus}
        overrides = tier_overrides(reseller.tier_id, ids)
        return {s.id: tier_price(reseller.tier, s, overrides) for s in skus}
    parent = reseller.parent
    costs = prices_for(parent, skus)
    own = dict(db.session.execute(sa.select(AgentPrice.sku_id, AgentPrice.price_fen)
                                  .where(AgentPrice.reseller_id == reseller.id, AgentPrice.sku_id.in_(ids))).all())
    out = {}
    for s in skus:
        low, high = agent_bounds(parent, s, costs[s.id])
        wanted = own.get(s.id, costs[s.id] + percent_of(costs[s.id], reseller.agent_markup_bp))
        out[s.id] = min(max(wanted, low), high)
    return out


def unit_price(reseller: Reseller, sku: Sku) -> int:
    if reseller.parent_id is None and reseller.tier_id is not None:  # the common case, in one query
        discount_bp, override = db.session.execute(
            sa.select(Tier.discount_bp, TierPrice.price_fen).select_from(Tier)
            .outerjoin(TierPrice, sa.and_(TierPrice.tier_id == Tier.id, TierPrice.sku_id == sku.id))
            .where(Tier.id == reseller.tier_id)).one()
        return override if override is not None else sku.price_fen - percent_of(sku.price_fen, discount_bp)
    return prices_for(reseller, [sku])[sku.id]


def parent_cost(reseller: Reseller, sku: Sku) -> int | None:
    """What the parent of a sub-agent pays for the SKU (None for a top-level reseller)."""
    return unit_price(reseller.parent, sku) if reseller.parent_id else None
