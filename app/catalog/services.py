"""Catalog: brands, products and SKUs (queries and the rules for creating and editing them)."""

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app.catalog.models import Brand, Product, Sku, SkuType
from app.extensions import db


def shop_skus(category: str | None = None) -> list[Sku]:
    """SKUs on sale in the consumer portal, grouped by the template by brand."""
    q = (sa.select(Sku).join(Product).join(Brand)
         .options(joinedload(Sku.product).joinedload(Product.brand))
         .where(Sku.active.is_(True), Sku.type == SkuType.card_code))
    if category:
        q = q.where(Product.category == category)
    return list(db.session.scalars(q.order_by(Brand.name, Sku.price_fen)))


def get_sku(sku_id: int) -> Sku | None:
    return db.session.scalars(sa.select(Sku).options(joinedload(Sku.product).joinedload(Product.brand))
                              .where(Sku.id == sku_id)).first()


def brands_owned_by(owner_id: int) -> list[Brand]:
    from app.fulfilment.models import Entitlement

    return list(db.session.scalars(
        sa.select(Brand).join(Product).join(Sku).join(Entitlement, Entitlement.sku_id == Sku.id)
        .where(Entitlement.owner_id == owner_id).distinct().order_by(Brand.name)))
