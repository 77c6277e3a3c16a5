"""What a reseller is offered: every SKU on sale at its own price, with what it can order now (its pool,
plus the shared stock where allowed, for stocked codes; the engine's availability for the rest, None
meaning unlimited). One answer for the console and the API."""

import sqlalchemy as sa

from app.catalog import services as catalog
from app.catalog.models import Sku
from app.channels import pricing, wholesale
from app.channels.models import ChannelPool, Reseller
from app.core.pages import ListPage
from app.extensions import db
from app.fulfilment import services as fulfilment
from app.inventory import services as inventory
from app.orders.services import on_sale

#: SKUs per page of the console's product list.
PER_PAGE = 50


def available_to(reseller: Reseller, skus: list[Sku]) -> dict[int, int | None]:
    """Units the reseller can order now per SKU; None = unlimited (bought from a supplier per order)."""
    bulk = [s for s in skus if wholesale.bulk(s)]
    pools = {p.sku_id: p for p in db.session.scalars(
        sa.select(ChannelPool).where(ChannelPool.reseller_id == reseller.id,
                                     ChannelPool.sku_id.in_([s.id for s in bulk])))} if bulk else {}
    levels = inventory.pool_levels([p.id for p in pools.values()])
    shared = inventory.shared_plain_counts([s.id for s in bulk if s.id not in pools or pools[s.id].allow_shared])
    out: dict[int, int | None] = fulfilment.availability([s for s in skus if not wholesale.bulk(s)])
    for s in bulk:
        pool = pools.get(s.id)
        own = levels.get(pool.id, 0) if pool else 0
        out[s.id] = own + (shared.get(s.id, 0) if pool is None or pool.allow_shared else 0)
    return out


def offer(reseller: Reseller) -> tuple[list[Sku], dict[int, int], dict[int, int | None]]:
    """The SKUs on sale (grouped by brand), this reseller's unit price of each, and how many it can order
    now."""
    skus = on_sale(catalog.shop_skus())
    return skus, pricing.prices_for(reseller, skus), available_to(reseller, skus)


def offer_page(reseller: Reseller, page: int = 1) -> tuple[ListPage, dict[int, int], dict[int, int | None]]:
    """A page of offer(): prices and availability are worked out for that page's SKUs only."""
    skus = ListPage(on_sale(catalog.shop_skus()), page, PER_PAGE)
    return skus, pricing.prices_for(reseller, skus.items), available_to(reseller, skus.items)
