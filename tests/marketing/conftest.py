"""Seeding marketing's inputs directly (orders as checkout and payment leave them, their promotions, benefits),
so each figure and rule can be counted by hand."""

from datetime import datetime, timedelta

import pytest

from app.core.ids import order_no, utcnow
from app.extensions import db
from app.fulfilment.models import Entitlement
from app.marketing.models import Campaign, OrderPromotion
from app.orders.models import Order


@pytest.fixture
def seed_order(ctx):
    def make(buyer_id: int, sku_id: int, *, amount_fen: int = 2800, paid_at: datetime | None = None,
             paid: bool = True, status: str | None = None, campaign_id: int | None = None, discount_fen: int = 0,
             refunded_fen: int = 0, channel: str = "retail") -> int:
        paid_at = paid_at or (utcnow() - timedelta(days=1) if paid else None)
        order = Order(order_no=order_no(), buyer_id=buyer_id, channel=channel, sku_id=sku_id, quantity=1,
                      unit_price_fen=amount_fen + discount_fen, amount_fen=amount_fen, discount_fen=discount_fen,
                      refunded_fen=refunded_fen, paid_at=paid_at if paid else None,
                      status=status or ("delivered" if paid else "pending_payment"))
        db.session.add(order)
        db.session.flush()
        if campaign_id is not None:
            db.session.add(OrderPromotion(order_id=order.id, campaign_id=campaign_id, source="coupon", ref_id=None,
                                          discount_fen=discount_fen, label="test"))
        db.session.commit()
        return order.id

    return make


@pytest.fixture
def seed_benefit(ctx):
    def make(owner_id: int, order_id: int, sku_id: int, valid_until: datetime, status: str = "unused") -> int:
        e = Entitlement(owner_id=owner_id, order_id=order_id, sku_id=sku_id, status=status, valid_until=valid_until)
        db.session.add(e)
        db.session.commit()
        return e.id

    return make


@pytest.fixture
def make_campaign(ctx):
    def make(name: str = "双十一", starts_in: timedelta = timedelta(hours=-1), lasts: timedelta = timedelta(days=7),
             status: str = "draft", stackable: bool = False) -> Campaign:
        start = utcnow() + starts_in
        c = Campaign(name=name, starts_at=start, ends_at=start + lasts, status=status, stackable=stackable)
        db.session.add(c)
        db.session.commit()
        return c

    return make
