"""Member prices and exclusive SKUs at retail checkout (orders.signals.pricing) and on shop pages.

The levels and their SKU rules are cached per process and reloaded when their version changes: a checkout
reads the buyer's level and the version in one statement, and nothing else unless ops changed something.
A member pays the lowest of the level's discount on the list price and any SKU price set for their level or a
lower one. The member price combines with coupons and offers (it has no campaign), not with a flash sale or a
group buy, which have their own price."""

import threading
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core.errors import ValidationError
from app.extensions import db
from app.loyalty.models import LevelSettings, LevelSkuRule, MemberLevel, MemberStatus
from app.orders.signals import Checkout, Discount

SOURCE = "member_price"
#: Promotions with their own price: no member price on top.
OWN_PRICE_PROMOS = ("flash_sale", "group_buy", "group")


@dataclass(frozen=True)
class Level:
    id: int
    name: str
    badge: str
    threshold: int
    discount_bp: int
    rank: int


@dataclass
class Snapshot:
    version: int | None
    levels: dict[int, Level] = field(default_factory=dict)
    #: sku id -> [(level, member price or None, exclusive)]
    rules: dict[int, list[tuple[Level, int | None, bool]]] = field(default_factory=dict)

    def required(self, sku_id: int) -> Level | None:
        """The lowest level the SKU is exclusive to (None: anyone may buy it)."""
        return min((lv for lv, _, excl in self.rules.get(sku_id, ()) if excl), key=lambda lv: lv.rank, default=None)

    def member_price(self, level: Level | None, sku_id: int, list_fen: int) -> int:
        """The unit price a member of `level` pays (the list price for none)."""
        if level is None:
            return list_fen
        prices = [list_fen * level.discount_bp // 10000]
        prices += [p for lv, p, _ in self.rules.get(sku_id, ()) if p is not None and lv.rank <= level.rank]
        return max(min(min(prices), list_fen), 1)


_lock = threading.Lock()
_cache: dict[str, Snapshot] = {}


def _load(version: int | None) -> Snapshot:
    snap = Snapshot(version)
    if version is None:
        return snap
    levels = list(db.session.scalars(sa.select(MemberLevel).order_by(MemberLevel.threshold)))
    snap.levels = {lv.id: Level(lv.id, lv.name, lv.badge, lv.threshold, lv.discount_bp, n)
                   for n, lv in enumerate(levels, 1)}
    for r in db.session.scalars(sa.select(LevelSkuRule)):
        if r.level_id in snap.levels:
            snap.rules.setdefault(r.sku_id, []).append((snap.levels[r.level_id], r.price_fen, r.exclusive))
    return snap


def snapshot(version: int | None) -> Snapshot:
    snap = _cache.get("levels")
    if snap is None or snap.version != version:
        snap = _load(version)
        with _lock:
            _cache["levels"] = snap
    return snap


def member_view(user_id: int | None) -> tuple[Snapshot, Level | None]:
    """The cached levels and the user's level, in one statement (a reload only after ops changed levels)."""
    level_id = sa.select(MemberStatus.level_id).where(MemberStatus.user_id == (user_id or 0)).scalar_subquery()
    version = sa.select(LevelSettings.version).where(LevelSettings.id == 1).scalar_subquery()
    row = db.session.execute(sa.select(level_id, version)).one()
    snap = snapshot(row[1])
    return snap, snap.levels.get(row[0]) if row[0] is not None else None


def refuse_exclusive(required: Level) -> ValidationError:
    return ValidationError(_l("This product is for members at level %(level)s or above.", level=required.name),
                           code="LEVEL_EXCLUSIVE")


def price(checkout: Checkout, **_) -> None:
    """orders.signals.pricing: refuse an exclusive SKU to a buyer below its level; take the member price off."""
    snap, level = member_view(checkout.buyer.id)
    required = snap.required(checkout.sku.id)
    if required is not None and (level is None or level.rank < required.rank):
        raise refuse_exclusive(required)
    if level is None or checkout.exclusive or any(checkout.promo.get(k) for k in OWN_PRICE_PROMOS):
        return
    unit = checkout.order.unit_price_fen
    off = (unit - snap.member_price(level, checkout.sku.id, unit)) * checkout.order.quantity
    if off > 0:
        checkout.discounts.append(Discount(SOURCE, level.id, off, str(_l("Member price (%(level)s)",
                                                                          level=level.name))))


def offer_for(snap: Snapshot, level: Level | None, sku_id: int, list_fen: int) -> dict:
    """What a shop page shows a buyer about a SKU: the member price (when below the list), the level it is
    exclusive to, and whether this buyer may buy it."""
    required = snap.required(sku_id)
    member = snap.member_price(level, sku_id, list_fen)
    return {"price_fen": member if member < list_fen else None, "level": level, "required": required,
            "allowed": required is None or (level is not None and level.rank >= required.rank)}
