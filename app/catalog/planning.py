"""What one order turns into: the units to deliver, each with its SKU and its share of the amount."""

from dataclasses import dataclass

from app.catalog.models import Sku, SkuType
from app.core.money import allocate


@dataclass(frozen=True)
class Unit:
    sku: Sku
    #: The joint membership this unit belongs to, if any.
    bundle: Sku | None
    #: What the buyer paid for it: its share of the list price less its share of the order's discount.
    amount_fen: int
    #: Its share of the order's discount (coupons, a flash-sale or group price).
    discount_fen: int = 0


def parts(sku: Sku) -> list[tuple[Sku, int]]:
    """(deliverable SKU, units per one sold) — the SKU itself, or a bundle's components."""
    if sku.type != SkuType.bundle:
        return [(sku, 1)]
    return [(c.component, c.quantity) for c in sku.components]


def units(sku: Sku, quantity: int, unit_price_fen: int, discount_fen: int = 0) -> list[Unit]:
    """The units of `quantity` of `sku` sold at `unit_price_fen` each, with `discount_fen` off the whole order:
    the list price is split over a bundle's components by their own prices, the discount over every unit by
    its list share, so the amounts add up to what was paid and the discounts to what was taken off."""
    listed: list[tuple[Sku, int]] = []
    for _ in range(quantity):
        flat = [s for s, n in parts(sku) for _ in range(n)]
        shares = allocate(unit_price_fen, [s.price_fen or s.face_value_fen for s in flat])
        listed.extend(zip(flat, shares, strict=True))
    off = allocate(discount_fen, [share for _, share in listed]) if discount_fen else [0] * len(listed)
    bundle = sku if sku.type == SkuType.bundle else None
    return [Unit(s, bundle, share - d, d) for (s, share), d in zip(listed, off, strict=True)]


def needs(sku: Sku, quantity: int) -> dict[int, tuple[Sku, int]]:
    """Units needed per deliverable SKU for `quantity` of `sku`."""
    need: dict[int, tuple[Sku, int]] = {}
    for part, n in parts(sku):
        have = need.get(part.id, (part, 0))[1]
        need[part.id] = (part, have + n * quantity)
    return need


def topup_formats(sku: Sku) -> list[str]:
    """The account formats a buyer may give at checkout (one field per format)."""
    seen: list[str] = []
    for part, _ in parts(sku):
        if part.type == SkuType.direct_topup and part.account_format and part.account_format not in seen:
            seen.append(part.account_format)
    return seen

