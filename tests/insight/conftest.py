"""Seeding the dashboard's inputs directly: orders as checkout and payment leave them (paid at a given moment),
refunds as the ledger books them (on a given moment), points-mall promotions."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from app.core.ids import order_no
from app.extensions import db
from app.insight.periods import today
from app.ledger import services as ledger
from app.ledger.models import JournalEntry
from app.ledger.periods import to_utc
from app.marketing.models import OrderPromotion
from app.orders.models import Order
from app.payments.models import Payment


def at(day: date, hour: int = 12) -> datetime:
    """Naive UTC of `hour` o'clock local time on `day`."""
    return to_utc(datetime.combine(day, time(hour)))


def days_ago(n: int) -> date:
    return today() - timedelta(days=n)


@dataclass
class Seeder:
    buyers: list[int]
    reseller_id: int
    n: int = 0

    def order(self, sku_id: int, *, paid_at: datetime | None, channel: str = "retail", buyer: int = 0,
              amount_fen: int = 2800, quantity: int = 1, discount_fen: int = 0) -> Order:
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
        return o

    def refund(self, order: Order, amount_fen: int, moment: datetime, via_payment: bool = False,
               kind: str = "refund", key_suffix: str = "") -> None:
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
def seeder(ctx, make_user):
    from app.accounts.models import User
    from app.channels import resellers

    buyers = [make_user() for _ in range(3)]
    ruid = make_user("reseller")
    reseller = resellers.for_user(db.session.get(User, ruid))
    return Seeder(buyers, reseller.id)


@pytest.fixture
def two_skus(make_sku):
    """Two SKUs of two brands: (sku a, sku b)."""
    return make_sku(brand="腾讯视频"), make_sku(brand="瑞幸咖啡")
