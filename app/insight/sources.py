"""Sales events straight from the orders and the ledger, grouped by local day × channel × SKU: what the roll-ups
store and what today's live figures and `sales.direct` read. Each event counts on the day it happened: a payment
on its paid_at day, a refund on the day its ledger entry was booked (docs/insight.md)."""

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from app.catalog.models import Product, Sku
from app.extensions import db
from app.ledger.models import JournalEntry, LedgerAccount, Posting
from app.ledger.periods import zone
from app.marketing.models import OrderPromotion
from app.orders.models import Order
from app.payments.models import Payment

#: Ledger entries that give a paid order's money back to its buyer; each debits customer prepayments (2203).
REFUND_KINDS = ("refund", "wallet_refund", "wholesale_refund", "enterprise_credit")
#: A wallet part given back because the order closed unpaid is not a refund of a paid order.
NOT_A_REFUND = "%:wallet_back"
CHANNELS = ("retail", "points_mall", "reseller", "enterprise")


@dataclass
class SaleRow:
    day: date
    channel: str
    sku_id: int
    brand_id: int
    gmv_fen: int = 0
    paid_orders: int = 0
    units: int = 0
    discount_fen: int = 0
    refund_fen: int = 0
    refunds: int = 0


@dataclass(frozen=True)
class BuyerRow:
    day: date
    channel: str
    brand_id: int
    buyer: str
    orders: int


def local_day(column):
    """The platform-time-zone day of a naive UTC column, as SQL (the zone keeps no daylight saving)."""
    hours = int(zone().utcoffset(datetime.now()).total_seconds() // 3600)
    if db.engine.dialect.name == "sqlite":
        return sa.func.date(column, f"{hours:+d} hours")
    return sa.cast(column + sa.text(f"interval '{hours} hours'"), sa.Date)


def as_day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def channel_of():
    """Order.channel, with retail orders bought in the points mall as their own channel."""
    mall = sa.exists().where(OrderPromotion.order_id == Order.id, OrderPromotion.source == "points")
    return sa.case((sa.and_(Order.channel == "retail", mall), sa.literal("points_mall")), else_=Order.channel)


def buyer_of():
    return sa.case((Order.buyer_id.is_not(None), sa.literal("u") + sa.cast(Order.buyer_id, sa.String)),
                   else_=sa.literal("r") + sa.cast(Order.reseller_id, sa.String))


def refund_moments(start: datetime, end: datetime):
    """(order_id, at, amount_fen) of each refund booked in [start, end): its 2203 debit, whichever way the money
    went back (gateway, wallet, reseller or enterprise balance)."""
    debit = (sa.select(JournalEntry.id.label("entry_id"), JournalEntry.ref_type, JournalEntry.ref_id,
                       JournalEntry.created_at.label("at"), Posting.amount_fen)
             .join(Posting, Posting.entry_id == JournalEntry.id)
             .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
             .where(JournalEntry.kind.in_(REFUND_KINDS), ~JournalEntry.idempotency_key.like(NOT_A_REFUND),
                    LedgerAccount.code == "2203", Posting.amount_fen > 0,
                    JournalEntry.created_at >= start, JournalEntry.created_at < end)
             .subquery())
    on_order = sa.select(debit.c.ref_id.label("order_id"), debit.c.at, debit.c.amount_fen) \
        .where(debit.c.ref_type == "order")
    on_payment = (sa.select(Payment.order_id.label("order_id"), debit.c.at, debit.c.amount_fen)
                  .join(Payment, Payment.id == debit.c.ref_id).where(debit.c.ref_type == "payment"))
    return sa.union_all(on_order, on_payment).subquery()


def _filtered(q, brand_id: int | None, channel: str | None, ch):
    if brand_id is not None:
        q = q.where(Product.brand_id == brand_id)
    if channel is not None:
        q = q.where(ch == channel)
    return q


def sales(start: datetime, end: datetime, brand_id: int | None = None, channel: str | None = None) -> list[SaleRow]:
    """Payments and refunds in [start, end) per local day × channel × SKU."""
    ch = channel_of().label("channel")
    day = local_day(Order.paid_at).label("day")
    paid = _filtered(sa.select(day, ch, Order.sku_id, Product.brand_id, sa.func.sum(Order.amount_fen),
                               sa.func.count(Order.id), sa.func.sum(Order.quantity), sa.func.sum(Order.discount_fen))
                     .join(Sku, Sku.id == Order.sku_id).join(Product, Product.id == Sku.product_id)
                     .where(Order.paid_at >= start, Order.paid_at < end,
                            # an order of no one (none is placed so; rows written by hand) has no paying user
                            sa.or_(Order.buyer_id.is_not(None), Order.reseller_id.is_not(None))),
                     brand_id, channel, ch) \
        .group_by(day, ch, Order.sku_id, Product.brand_id)
    rows: dict[tuple, SaleRow] = {}
    for d, c, sku_id, brand, gmv, n, units, discount in db.session.execute(paid):
        rows[(as_day(d), c, sku_id)] = SaleRow(as_day(d), c, sku_id, brand, int(gmv or 0), n, int(units or 0),
                                               int(discount or 0))
    moments = refund_moments(start, end)
    rday = local_day(moments.c.at).label("day")
    refunded = _filtered(sa.select(rday, ch, Order.sku_id, Product.brand_id, sa.func.sum(moments.c.amount_fen),
                                   sa.func.count(sa.distinct(moments.c.order_id)))
                         .join(Order, Order.id == moments.c.order_id)
                         .join(Sku, Sku.id == Order.sku_id).join(Product, Product.id == Sku.product_id),
                         brand_id, channel, ch).group_by(rday, ch, Order.sku_id, Product.brand_id)
    for d, c, sku_id, brand, amount, n in db.session.execute(refunded):
        row = rows.setdefault((as_day(d), c, sku_id), SaleRow(as_day(d), c, sku_id, brand))
        row.refund_fen, row.refunds = int(amount or 0), n
    return sorted(rows.values(), key=lambda r: (r.day, r.channel, r.sku_id))


def buyers_query(start: datetime, end: datetime, brand_id: int | None = None, channel: str | None = None):
    """SELECT day, channel, brand_id, buyer, orders: who paid in [start, end), per local day × channel × brand."""
    ch = channel_of().label("channel")
    day = local_day(Order.paid_at).label("day")
    buyer = buyer_of().label("buyer")
    return _filtered(sa.select(day, ch, Product.brand_id.label("brand_id"), buyer,
                               sa.func.count(Order.id).label("orders"))
                     .join(Sku, Sku.id == Order.sku_id).join(Product, Product.id == Sku.product_id)
                     .where(Order.paid_at >= start, Order.paid_at < end,
                            # an order of no one (none is placed so; rows written by hand) has no paying user
                            sa.or_(Order.buyer_id.is_not(None), Order.reseller_id.is_not(None))),
                     brand_id, channel, ch) \
        .group_by(day, ch, Product.brand_id, buyer)


def buyers(start: datetime, end: datetime) -> list[BuyerRow]:
    return [BuyerRow(as_day(d), c, b, u, n) for d, c, b, u, n in db.session.execute(buyers_query(start, end))]
