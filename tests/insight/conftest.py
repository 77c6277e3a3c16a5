"""Seeding the dashboard's inputs directly: orders as checkout and payment leave them (paid at a given moment),
refunds as the ledger books them (on a given moment), points-mall promotions; and the inputs of the operations
figures (deliveries and their benefits, reveals, campaign discounts) at chosen local moments, so each figure can
be counted by hand."""

import contextlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.core.ids import order_no
from app.core.models import AuditLog
from app.extensions import db
from app.fulfilment.models import Delivery, Entitlement
from app.ledger import services as ledger
from app.ledger.models import JournalEntry
from app.marketing.models import Campaign, OrderPromotion
from app.orders.models import Order
from app.payments.models import Payment

#: The platform's calendar (TestConfig's BABEL_DEFAULT_TIMEZONE): the helpers work outside an app context.
ZONE = ZoneInfo("Asia/Shanghai")


def days_ago(n: int) -> date:
    return datetime.now(ZONE).date() - timedelta(days=n)


def _context(app):
    from flask import has_app_context

    return contextlib.nullcontext() if has_app_context() else app.app_context()


@dataclass
class Seeder:
    """Returns ids and opens its own app context when none is pushed, so tests with a logged-in client use it."""

    app: object
    buyers: list[int]
    reseller_id: int
    n: int = 0

    def order(self, sku_id: int, *, paid_at: datetime | None, channel: str = "retail", buyer: int = 0,
              amount_fen: int = 2800, quantity: int = 1, discount_fen: int = 0) -> int:
        with _context(self.app):
            return self._order(sku_id, paid_at, channel, buyer, amount_fen, quantity, discount_fen)

    def _order(self, sku_id, paid_at, channel, buyer, amount_fen, quantity, discount_fen) -> int:
        mall = channel == "points_mall"
        reseller = channel == "reseller"
        o = Order(order_no=order_no(), buyer_id=None if reseller else self.buyers[buyer],
                  reseller_id=self.reseller_id if reseller else None, channel="retail" if mall else channel,
                  sku_id=sku_id, quantity=quantity, unit_price_fen=(amount_fen + discount_fen) // quantity,
                  amount_fen=amount_fen, discount_fen=discount_fen, paid_at=paid_at,
                  status="delivered" if paid_at else "pending_payment",
                  created_at=(paid_at or datetime(2026, 1, 1)) - timedelta(days=3))
        db.session.add(o)
        db.session.flush()
        if mall:
            db.session.add(OrderPromotion(order_id=o.id, source="points", ref_id=None, discount_fen=discount_fen,
                                          label="points"))
        db.session.commit()
        return o.id

    def refund(self, order_id: int, amount_fen: int, moment: datetime, via_payment: bool = False,
               kind: str = "refund", key_suffix: str = "") -> None:
        with _context(self.app):
            self._refund(db.session.get(Order, order_id), amount_fen, moment, via_payment, kind, key_suffix)

    def _refund(self, order, amount_fen, moment, via_payment, kind, key_suffix) -> None:
        """A refund as the ledger books it: a debit of customer prepayments (2203) referring to the order (or
        to its payment, as a full gateway refund does), booked at `moment`."""
        self.n += 1
        ref: tuple[str, int] = ("order", order.id)
        if via_payment:
            pay = Payment(order_id=order.id, out_trade_no=f"P{order.order_no}-{self.n}", amount_fen=amount_fen,
                          status="refunded")
            db.session.add(pay)
            db.session.flush()
            ref = ("payment", pay.id)
        e = ledger.post(kind, [("2203", amount_fen), ("2241", -amount_fen)],
                        key=f"test:{order.id}:{self.n}{key_suffix}", ref=ref)
        db.session.execute(sa.update(JournalEntry).where(JournalEntry.id == e.id)
                           .values(created_at=moment, booked_at=moment))
        db.session.commit()


@pytest.fixture
def seeder(app, make_user):
    from app.accounts.models import User
    from app.channels import resellers

    buyers = [make_user() for _ in range(3)]
    ruid = make_user("reseller")
    with _context(app):
        reseller_id = resellers.for_user(db.session.get(User, ruid)).id
    return Seeder(app, buyers, reseller_id)


@pytest.fixture
def two_skus(make_sku):
    """Two SKUs of two brands: (sku a, sku b)."""
    return make_sku(brand="腾讯视频"), make_sku(brand="瑞幸咖啡")





def at(day: date, hours: float = 12) -> datetime:
    """`hours` into the local day `day`, as the naive UTC the database stores (no app context needed)."""
    return (datetime.combine(day, time(), tzinfo=ZONE) + timedelta(hours=hours)).astimezone(UTC).replace(tzinfo=None)


def ago(days: int) -> date:
    return days_ago(days)


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
