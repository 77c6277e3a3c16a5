"""The points mall (积分商城): ops list a SKU (a benefit or a benefit pack) for points only or points plus cash;
a member buys one unit through normal retail checkout (stock, risk control's checkout point, delivery), the
points taken with the order as its discount (source "points"). Points only: the order costs 0 and is paid
without the gateway. Points plus cash: the cash is paid at the gateway; if the order closes unpaid the points
come back."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.catalog.models import Sku
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError
from app.extensions import db
from app.loyalty import points
from app.loyalty.models.points import MallItem
from app.orders import services as orders
from app.orders.models import Order
from app.orders.signals import Checkout, Discount
from app.payments import services as payments

#: The promo key checkout reads: the mall item being bought.
PROMO_KEY = "points_item"


def items(active_only: bool = True) -> list[MallItem]:
    q = sa.select(MallItem).order_by(MallItem.points, MallItem.id)
    if active_only:
        q = q.where(MallItem.active.is_(True))
    return list(db.session.scalars(q))


def get(item_id: int, active_only: bool = True) -> MallItem:
    item = db.session.get(MallItem, item_id)
    if item is None or (active_only and not item.active):
        raise NotFound(_l("This item is not in the points mall."), code="MALL_ITEM_NOT_FOUND")
    return item


def save_item(actor_id: int | None, *, sku_id: int, title: str, points_: int, cash_fen: int, active: bool = True,
              item_id: int | None = None) -> MallItem:
    """Create or edit a mall item; commits. Validated before anything is written."""
    title = (title or "").strip()
    sku = db.session.get(Sku, sku_id) if sku_id else None
    if sku is None:
        raise ValidationError(_l("Choose a SKU."), code="SKU_REQUIRED")
    if not title:
        raise ValidationError(_l("Give the item a title."), code="TITLE_REQUIRED")
    if not isinstance(points_, int) or not 0 < points_ <= points.MAX_POINTS:
        raise ValidationError(_l("The number of points must be more than zero."), code="POINTS_INVALID")
    if not isinstance(cash_fen, int) or not 0 <= cash_fen < sku.price_fen:
        raise ValidationError(_l("The cash part must be less than the SKU's price."), code="CASH_INVALID")
    item = get(item_id, active_only=False) if item_id else MallItem(created_by=actor_id)
    item.sku_id, item.title, item.points, item.cash_fen, item.active = sku.id, title[:120], points_, cash_fen, active
    db.session.add(item)
    db.session.flush()
    audit(actor_id, "points.mall_item", "points_mall_item", item.id, points=points_, cash_fen=cash_fen,
          active=active)
    db.session.commit()
    return item


def price(checkout: Checkout, **_) -> None:
    """orders.signals.pricing: a mall order spends the item's points with the order; what they cover is the
    order's discount (booked to sales discounts, 6003, like a coupon's)."""
    ref = checkout.promo.get(PROMO_KEY)
    if ref in (None, ""):
        return
    try:
        item = get(int(ref))
    except (TypeError, ValueError):
        raise NotFound(_l("This item is not in the points mall."), code="MALL_ITEM_NOT_FOUND") from None
    if item.sku_id != checkout.sku.id or checkout.order.quantity != 1:
        raise ValidationError(_l("A points mall item is bought one at a time."), code="MALL_QUANTITY")
    if checkout.discounts or any(v for k, v in checkout.promo.items() if k != PROMO_KEY):
        raise ValidationError(_l("Points cannot be combined with another offer."), code="MALL_NOT_STACKABLE")
    order = checkout.order
    points.spend(checkout.buyer.id, item.points, key=f"order:{order.id}:mall", ref=("order", order.id),
                 memo=order.order_no)
    covered = max(checkout.list_fen - item.cash_fen, 0)
    checkout.discounts.append(Discount("points", item.id, covered, str(_l("%(points)s points", points=item.points))))
    checkout.exclusive = True
    checkout.may_be_free = item.cash_fen == 0


def on_order_closed(order: Order, **_) -> None:
    """orders.signals.order_closed: an unpaid mall order's points come back."""
    points.give_back(f"order:{order.id}:mall", memo=order.order_no)


def buy(buyer: User, item_id: int) -> Order:
    """Buy one mall item. Points only: the points are spent and the order paid (no gateway), then delivered.
    Points plus cash: the order waits for its cash payment like any other. Refusals change nothing."""
    item = get(item_id)
    order = orders.create_retail_order(buyer, item.sku_id, 1, promo={PROMO_KEY: item.id})
    if order.amount_fen == 0:
        order = db.session.get(Order, order.id)
        payments.capture_without_gateway(order, reason="points mall", actor_id=buyer.id)
        db.session.commit()
    return order
