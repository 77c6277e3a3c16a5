"""Benefit packs an HR admin composes: a fixed set of SKUs, or one of N for the employee to pick."""

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload, selectinload

from app.accounts.models import User
from app.catalog.models import Product, Sku
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError
from app.extensions import db
from app.orders.services import on_sale
from app.procurement.enterprises import price_of
from app.procurement.models import Enterprise, Pack, PackItem, PackKind

MAX_ITEMS = 20
MAX_UNITS = 100
#: Rows per page of the pack list.
PER_PAGE = 50


def _per_employee(kind: str, prices: list[int]) -> int:
    if not prices:
        return 0
    return max(prices) if kind == PackKind.choice else sum(prices)


def price(ent: Enterprise, pack: Pack) -> int:
    """A pack's price per employee: the sum of its items (fixed), or its dearest option (choose one: the
    employee's pick is not known when it is bought)."""
    return _per_employee(pack.kind, [price_of(ent, item.sku) * item.quantity for item in pack.items])


def get(ent: Enterprise, pack_id: int) -> Pack:
    pack = db.session.scalars(sa.select(Pack).where(Pack.id == pack_id, Pack.organization_id == ent.organization_id)
                              .options(selectinload(Pack.items).joinedload(PackItem.sku))).first()
    if pack is None:
        raise NotFound(_l("Pack not found."))
    return pack


def _packs(ent: Enterprise, active_only: bool = False) -> sa.Select:
    q = sa.select(Pack).where(Pack.organization_id == ent.organization_id)
    if active_only:
        q = q.where(Pack.active)
    return (q.options(selectinload(Pack.items).joinedload(PackItem.sku))
            .order_by(Pack.active.desc(), Pack.id.desc()))


def list_for(ent: Enterprise, active_only: bool = False) -> list[Pack]:
    return list(db.session.scalars(_packs(ent, active_only)))


def priced_page(ent: Enterprise, page: int = 1):
    """A page of the company's packs; its items are (pack, the company's price, the retail price)."""
    result = db.paginate(_packs(ent), page=page, per_page=PER_PAGE, error_out=False)
    result.items = [(p, price(ent, p), retail_price(p)) for p in result.items]
    return result


def choosable_skus() -> list[Sku]:
    """What a pack may hold: every SKU on sale (bundles included)."""
    skus = db.session.scalars(sa.select(Sku).where(Sku.active).order_by(Sku.product_id, Sku.id)).all()
    return on_sale(list(skus))


def _items(kind: str, items: list[tuple[int, int]]) -> list[PackItem]:
    if kind not in PackKind.__members__:
        raise ValidationError(_l("Choose the kind of pack."), field="kind")
    items = [(int(sku_id), int(qty)) for sku_id, qty in items if sku_id]
    if not items:
        raise ValidationError(_l("Add at least one product to the pack."), field="items")
    if kind == PackKind.choice and len(items) < 2:
        raise ValidationError(_l("A choose-one pack needs at least two options."), field="items")
    if len(items) > MAX_ITEMS:
        raise ValidationError(_l("A pack holds at most %(n)s products.", n=MAX_ITEMS), field="items")
    ids = [sku_id for sku_id, _ in items]
    if len(set(ids)) != len(ids):
        raise ValidationError(_l("Each product can be in the pack once; raise its quantity instead."), field="items")
    if any(not 1 <= qty <= MAX_UNITS for _, qty in items):
        raise ValidationError(_l("Each quantity must be from 1 to %(n)s.", n=MAX_UNITS), field="items")
    if kind == PackKind.choice and any(qty != 1 for _, qty in items):
        raise ValidationError(_l("Each option of a choose-one pack is one unit."), field="items")
    sellable = {s.id for s in choosable_skus()}
    if any(sku_id not in sellable for sku_id in ids):
        raise ValidationError(_l("One of the products is not on sale."), code="SKU_NOT_ON_SALE", field="items")
    return [PackItem(sku_id=sku_id, quantity=qty, position=i) for i, (sku_id, qty) in enumerate(items)]


def save(ent: Enterprise, actor: User, *, name: str, kind: str, items: list[tuple[int, int]],
         description: str = "", pack_id: int | None = None) -> Pack:
    """Create or change a pack; everything is checked before anything is written. Commits.
    Requests already filed keep the price they were submitted with."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 80:
        raise ValidationError(_l("Give the pack a name: 1 to 80 characters."), field="name")
    description = (description or "").strip()
    if len(description) > 300:
        raise ValidationError(_l("The description is at most 300 characters."), field="description")
    new_items = _items(kind, items)
    pack = get(ent, pack_id) if pack_id else Pack(organization_id=ent.organization_id, created_by=actor.id)
    pack.name, pack.kind, pack.description = name, kind, description
    db.session.add(pack)
    if pack.id:  # old rows out first: the (pack, sku) unique key would see a kept SKU twice
        pack.items = []
        db.session.flush()
    pack.items = new_items
    db.session.flush()
    audit(actor.id, "pack.save", "pack", pack.id, kind=kind, items=len(new_items))
    db.session.commit()
    return pack


def set_active(ent: Enterprise, actor: User, pack_id: int, active: bool) -> Pack:
    pack = get(ent, pack_id)
    pack.active = active
    audit(actor.id, "pack.activate" if active else "pack.deactivate", "pack", pack.id)
    db.session.commit()
    return pack


# --- for the enterprise portal's pack pages --------------------------------------------------------------

def retail_price(pack: Pack) -> int:
    """What the pack would cost per employee at retail prices (the same rule as `price`, no discount)."""
    return _per_employee(pack.kind, [item.sku.price_fen * item.quantity for item in pack.items])


def quote(ent: Enterprise, kind: str, items: list[tuple[Sku, int]]) -> tuple[int, int]:
    """(enterprise price, retail price) per employee of a pack being composed, before it is saved."""
    return (_per_employee(kind, [price_of(ent, sku) * qty for sku, qty in items]),
            _per_employee(kind, [sku.price_fen * qty for sku, qty in items]))


@dataclass(frozen=True)
class ProductGroup:
    brand: str
    product: str
    skus: list[Sku]


def choosable_by_product() -> list[ProductGroup]:
    """`choosable_skus` grouped by brand and product, for the pack form."""
    skus = choosable_skus()
    products = {p.id: p for p in db.session.scalars(
        sa.select(Product).options(joinedload(Product.brand))
        .where(Product.id.in_({s.product_id for s in skus})))} if skus else {}
    groups: dict[int, list[Sku]] = {}
    for sku in skus:
        groups.setdefault(sku.product_id, []).append(sku)
    out = [ProductGroup(products[pid].brand.name, products[pid].name, group) for pid, group in groups.items()]
    return sorted(out, key=lambda g: (g.brand, g.product))
