"""What one order turns into: the units to deliver, each with its SKU and its share of the amount."""

from dataclasses import dataclass

from app.catalog.models import Sku, SkuType
from app.core.money import allocate


@dataclass(frozen=True)
class Unit:
    sku: Sku
    #: The joint membership this unit belongs to, if any.
    bundle: Sku | None
    amount_fen: int


def parts(sku: Sku) -> list[tuple[Sku, int]]:
    """(deliverable SKU, units per one sold) — the SKU itself, or a bundle's components."""
    if sku.type != SkuType.bundle:
        return [(sku, 1)]
    return [(c.component, c.quantity) for c in sku.components]


def units(sku: Sku, quantity: int, unit_price_fen: int) -> list[Unit]:
    out: list[Unit] = []
    for _ in range(quantity):
        flat = [s for s, n in parts(sku) for _ in range(n)]
        shares = allocate(unit_price_fen, [s.price_fen or s.face_value_fen for s in flat])
        bundle = sku if sku.type == SkuType.bundle else None
        out.extend(Unit(s, bundle, share) for s, share in zip(flat, shares, strict=True))
    return out


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

