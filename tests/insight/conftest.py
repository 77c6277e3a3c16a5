"""Seeding the inputs of the operations figures directly (orders, deliveries and their benefits, reveals,
campaign discounts) at chosen local moments, so each figure can be counted by hand."""

from datetime import date, datetime, timedelta

import pytest

from app.core.ids import order_no
from app.core.models import AuditLog
from app.extensions import db
from app.fulfilment.models import Delivery, Entitlement
from app.insight.periods import Period, today
from app.marketing.models import Campaign, OrderPromotion
from app.orders.models import Order


def at(day: date, hours: float = 12) -> datetime:
    """`hours` into the local day `day`, as the naive UTC the database stores."""
    return Period(day, day).bounds()[0] + timedelta(hours=hours)


def ago(days: int) -> date:
    return today() - timedelta(days=days)


@pytest.fixture
def seed_order(ctx):
    def make(sku_id: int, created: datetime, paid: datetime | None = None, *, channel: str = "retail",
             quantity: int = 1, amount_fen: int = 2800, discount_fen: int = 0, status: str | None = None,
             campaign_id: int | None = None, source: str = "coupon") -> int:
        o = Order(order_no=order_no(), channel=channel, sku_id=sku_id, quantity=quantity,
                  unit_price_fen=(amount_fen + discount_fen) // quantity, amount_fen=amount_fen,
                  discount_fen=discount_fen, paid_at=paid, created_at=created,
                  status=status or ("delivered" if paid else "pending_payment"))
        db.session.add(o)
        db.session.flush()
        if campaign_id is not None:
            db.session.add(OrderPromotion(order_id=o.id, campaign_id=campaign_id, source=source,
                                          discount_fen=discount_fen, label="t"))
        db.session.commit()
        return o.id

    return make


@pytest.fixture
def seed_unit(ctx, seed_order):
    """A delivered unit: its order, benefit and delivery; optionally revealed (audit rows) or redeemed."""
    def make(sku_id: int, delivered: datetime | None, *, created: datetime | None = None,
             supplier_id: int | None = None, reveals: tuple[datetime, ...] = (), used: datetime | None = None,
             status: str = "delivered", failed: datetime | None = None, extra: bool = False) -> int:
        start = created or delivered or failed
        oid = seed_order(sku_id, start, start)
        e = Entitlement(order_id=oid, sku_id=sku_id, status="used" if used else "unused", used_at=used,
                        reveal_count=len(reveals))
        db.session.add(e)
        db.session.flush()
        db.session.add(Delivery(key=f"{oid}-1", order_id=oid, entitlement_id=e.id, sku_id=sku_id, amount_fen=2800,
                                status=status, supplier_id=supplier_id, delivered_at=delivered, failed_at=failed,
                                created_at=start, extra=extra))
        db.session.add_all(AuditLog(actor_id=None, action="code.reveal", target_type="entitlement", target_id=e.id,
                                    detail={}, created_at=t) for t in reveals)
        db.session.commit()
        return e.id

    return make


@pytest.fixture
def seed_campaign(ctx):
    def make(name: str, starts: datetime, ends: datetime) -> int:
        c = Campaign(name=name, starts_at=starts, ends_at=ends, status="scheduled")
        db.session.add(c)
        db.session.commit()
        return c.id

    return make


@pytest.fixture(autouse=True)
def _no_counted_views(app):
    """Product page views live in Redis, which no test rolls back: each test starts with none."""
    from app.queues import connection

    with app.app_context():
        r = connection()
        keys = list(r.scan_iter("insight:pv:*"))
        if keys:
            r.delete(*keys)
    yield
