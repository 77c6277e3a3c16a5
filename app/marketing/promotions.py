"""What discounts each retail order got, recorded as checkout priced it."""

import sqlalchemy as sa

from app.extensions import db
from app.marketing.models import OrderPromotion
from app.orders.signals import Checkout


def record(checkout: Checkout, **_) -> None:
    db.session.add_all([OrderPromotion(order_id=checkout.order.id, campaign_id=d.campaign_id, source=d.source,
                                       ref_id=d.ref_id, discount_fen=d.amount_fen, label=d.label[:200])
                        for d in checkout.discounts if d.amount_fen > 0])


def of_order(order_id: int) -> list[OrderPromotion]:
    return list(db.session.scalars(sa.select(OrderPromotion).where(OrderPromotion.order_id == order_id)
                                   .order_by(OrderPromotion.id)))
