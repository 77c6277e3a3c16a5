"""Flash sales (秒杀): a campaign sells `quota` units of a SKU at a sale price in a window, at most
`per_user_limit` per buyer, and thousands may arrive in the same second.

The database is the truth: each unit an order holds is a row of flash_units whose constraints make a second
holder of a serial, a serial beyond the quota or a buyer beyond the limit impossible (models/flash.py). In
front of it the Redis gate (flash_gate.py) takes a serial and a slot atomically, so the rush is turned away
without touching the database; the pricing receiver then writes the unit in the order's transaction and, if
the database refuses it, gives the unit back to Redis. An unpaid order that closes deletes its unit and gives
it back. If Redis loses a sale's keys, they are rebuilt from the database before the next decision.
"""

import time
from contextvars import ContextVar

import redis
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.errors import NotFound, ValidationError
from app.core.hooks import after_commit
from app.core.ids import utcnow
from app.core.money import cny
from app.extensions import db
from app.marketing.flash_gate import GateUnavailable, Refused, Snapshot, Ticket, gate
from app.marketing.models import Campaign
from app.marketing.models.flash import FlashSale, FlashUnit
from app.orders import services as orders
from app.orders.models import Order
from app.orders.signals import Checkout, Discount
from app.risk import engine as risk
from app.risk.models import Point

#: The key of `promo` this feature reads: the sale's id.
PROMO_KEY = "flash_sale"
#: How long a process trusts what it read of a sale for the gate (its Redis key name, SKU, limit). A sale's
#: setup changes only before it starts, when the gate refuses everyone anyway.
SALE_CACHE_S = 5.0

REFUSALS = {
    "NOT_STARTED": (_l("This flash sale has not started yet."), "FLASH_NOT_STARTED"),
    "ENDED": (_l("This flash sale has ended."), "FLASH_ENDED"),
    "SOLD_OUT": (_l("Sold out: every unit of this flash sale has been taken."), "FLASH_SOLD_OUT"),
}


def _refusal(reason: str, limit: int) -> ValidationError:
    if reason == "LIMIT":
        return ValidationError(_l("You have reached this flash sale's limit of %(n)s per person.", n=limit),
                               code="FLASH_LIMIT")
    message, code = REFUSALS[reason]
    return ValidationError(message, code=code)


def _busy() -> ValidationError:
    return ValidationError(_l("The flash sale is very busy. Please try again in a moment."), code="FLASH_BUSY")


# --- the rush: the gate in front of checkout ---------------------------------------------------------------

#: A unit the gate gave `buy` before the order was created, for the pricing receiver to write.
_pending: ContextVar[Ticket | None] = ContextVar("flash_pending", default=None)
_sales: dict[int, tuple[float, str, int, int, int]] = {}


def _gate_facts(sale_id: int) -> tuple[str, int, int, int]:
    """(gate_key, sku_id, per_user_limit, campaign_id) of a sale, from a short per-process cache."""
    hit = _sales.get(sale_id)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1:]
    row = db.session.execute(sa.select(FlashSale.gate_key, FlashSale.sku_id, FlashSale.per_user_limit,
                                       FlashSale.campaign_id)
                             .where(FlashSale.id == sale_id)).first()
    if row is None:
        raise NotFound(_l("This flash sale does not exist."), code="FLASH_NOT_FOUND")
    _sales[sale_id] = (time.monotonic() + SALE_CACHE_S, *row)
    return tuple(row)


def sale_id_of(promo: dict) -> int | None:
    raw = (promo or {}).get(PROMO_KEY)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise NotFound(_l("This flash sale does not exist."), code="FLASH_NOT_FOUND") from None


def buy(buyer: User, sku_id: int, quantity: int, accounts: dict[str, str] | None = None,
        promo: dict | None = None) -> Order:
    """A retail order at the flash price: the gate first (a refusal costs the database nothing), then the
    order as create_retail_order makes it, the unit written by the pricing receiver; if the order is not
    made, the unit goes back to the gate. Risk control decides the entry before the gate is asked: a refused
    buyer never holds a unit, even for a moment."""
    sale_id = sale_id_of(promo)
    gate_key, sale_sku, limit, campaign_id = _gate_facts(sale_id)
    if sale_sku != sku_id:
        raise NotFound(_l("This flash sale does not exist."), code="FLASH_NOT_FOUND")
    if quantity != 1:
        raise ValidationError(_l("A flash sale order is for one unit; order again for another."),
                              code="FLASH_QUANTITY")
    _enter(buyer, sku_id, quantity, campaign_id)
    ticket = _take(sale_id, gate_key, buyer.id, limit)
    token = _pending.set(ticket)
    try:
        return orders.create_retail_order(buyer, sku_id, quantity, accounts=accounts, promo=promo)
    except redis.RedisError:  # the gate's Redis went away mid-order (a pricing receiver or the give-back needs it)
        db.session.rollback()
        gate().give_back(ticket)
        raise _busy() from None
    except BaseException:
        gate().give_back(ticket)  # no-op if the receiver already did, or the unit was committed
        raise
    finally:
        _pending.reset(token)


def screen(buyer: User, sku, quantity: int, promo: dict, **_) -> None:
    """orders.signals.screening: an order naming a sale that did not come through `buy` (whose gate ticket is
    pending) asks risk control for the entry here, before the order is written."""
    sale_id = sale_id_of(promo)
    if sale_id is None or _pending.get() is not None:
        return
    campaign_id = db.session.scalar(sa.select(FlashSale.campaign_id).where(FlashSale.id == sale_id))
    if campaign_id is not None:  # an unknown sale is refused by the pricing receiver
        _enter(buyer, sku.id, quantity, campaign_id)


def _enter(buyer: User, sku_id: int, quantity: int, campaign_id: int) -> None:
    """Risk control's flash_entry decision (without Redis it decides on what needs no counters; the gate, which
    does need Redis, then says the sale is busy)."""
    risk.check(Point.flash_entry, buyer, sku_id=sku_id, quantity=quantity, campaign_id=campaign_id)


def _take(sale_id: int, gate_key: str, buyer_id: int, limit: int) -> Ticket:
    try:
        return gate().take(sale_id, gate_key, buyer_id, utcnow(), lambda: snapshot(sale_id))
    except Refused as e:
        raise _refusal(e.reason, limit) from None
    except GateUnavailable:
        raise _busy() from None


def snapshot(sale_id: int) -> Snapshot:
    """The sale as the database has it (committed units), for the gate's rebuild."""
    sale = db.session.get(FlashSale, sale_id)
    held = db.session.execute(sa.select(FlashUnit.serial, FlashUnit.buyer_id, FlashUnit.n)
                              .where(FlashUnit.sale_id == sale_id)).all()
    return Snapshot(quota=sale.quota, limit=sale.per_user_limit, starts_at=sale.starts_at, ends_at=sale.ends_at,
                    stopped=sale.stopped_at is not None, held=[tuple(h) for h in held])


# --- checkout: the pricing receiver writes the unit --------------------------------------------------------

TICKETS = "flash_tickets"


def price(checkout: Checkout, **_) -> None:
    """orders.signals.pricing: hold a unit of the sale named by promo["flash_sale"] for this order (the
    ticket `buy` took, or one taken now) and take the list price less the sale price off."""
    sale_id = sale_id_of(checkout.promo)
    if sale_id is None:
        return
    sale = db.session.get(FlashSale, sale_id)
    if sale is None or sale.sku_id != checkout.sku.id:
        raise NotFound(_l("This flash sale does not exist."), code="FLASH_NOT_FOUND")
    if checkout.order.quantity != 1:
        raise ValidationError(_l("A flash sale order is for one unit; order again for another."),
                              code="FLASH_QUANTITY")
    state = sale.state_at(utcnow())
    if state != "live":
        raise _refusal("NOT_STARTED" if state == "upcoming" else "ENDED", sale.per_user_limit)
    _check_stackable(sale, checkout)
    ticket = _pending.get()
    if ticket is None or ticket.done or (ticket.sale_id, ticket.buyer_id) != (sale.id, checkout.buyer.id) \
            or ticket.gate_key != sale.gate_key:
        if ticket is not None and not ticket.done:
            gate().give_back(ticket)
        ticket = _take(sale.id, sale.gate_key, checkout.buyer.id, sale.per_user_limit)
    _hold(sale, ticket, checkout.order)
    discount = max(0, checkout.order.unit_price_fen - sale.price_fen)
    checkout.discounts.append(Discount(PROMO_KEY, sale.id, discount,
                                       str(_l("Flash sale %(price)s", price=cny(sale.price_fen))), sale.campaign_id))


def _check_stackable(sale: FlashSale, checkout: Checkout) -> None:
    if sale.campaign.stackable:
        return
    others = {d.campaign_id for d in checkout.discounts if d.campaign_id not in (None, sale.campaign_id)}
    if others and db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)
                                     .where(Campaign.id.in_(others), Campaign.stackable.is_(False))):
        raise ValidationError(_l("A flash sale cannot be combined with another offer on one order."),
                              code="FLASH_NOT_STACKABLE")


def _hold(sale: FlashSale, ticket: Ticket, order: Order) -> None:
    """Write the unit row; the database refuses a serial or slot that is already held (a unit taken from
    keys rebuilt while its order was being written): that one stays taken in Redis and another is taken."""
    g = gate()
    for _ in range(5):
        try:
            with db.session.begin_nested():
                db.session.add(FlashUnit(sale_id=sale.id, serial=ticket.serial, buyer_id=ticket.buyer_id, n=ticket.n,
                                         quota=sale.quota, per_user_limit=sale.per_user_limit, order_id=order.id))
        except IntegrityError as e:
            if "serial" in str(e.orig):  # held in the database: keep it out of Redis, free the slot
                g.give_back(ticket, serial=False)
            elif "slot" in str(e.orig) or "buyer_id" in str(e.orig):  # the buyer holds it: free the serial
                g.give_back(ticket, slot=False)
            else:
                g.give_back(ticket)
                raise
            ticket = _take(sale.id, sale.gate_key, ticket.buyer_id, sale.per_user_limit)
            continue
        db.session.info.setdefault(TICKETS, []).append((g, ticket))
        return
    g.give_back(ticket)
    raise _busy()


@event.listens_for(Session, "after_commit")
def _committed(session):
    for _, ticket in session.info.pop(TICKETS, []):
        ticket.done = True  # the unit is the database's now


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session, previous_transaction):
    if previous_transaction.parent is None:
        for g, ticket in session.info.pop(TICKETS, []):
            g.give_back(ticket)


def on_order_closed(order: Order, status: str, **_) -> None:
    """orders.signals.order_closed: the unpaid order's unit is free again, in the database now and in Redis
    once that is committed."""
    freed = db.session.execute(sa.delete(FlashUnit).where(FlashUnit.order_id == order.id)
                               .returning(FlashUnit.sale_id, FlashUnit.serial, FlashUnit.buyer_id,
                                          FlashUnit.n)).all()
    if not freed:
        return
    keys = dict(db.session.execute(sa.select(FlashSale.id, FlashSale.gate_key)
                                   .where(FlashSale.id.in_({f.sale_id for f in freed}))).all())
    g = gate()

    def give_back():
        for f in freed:
            g.release(f.sale_id, keys[f.sale_id], [(f.serial, f.buyer_id, f.n)])

    after_commit(db.session(), give_back)
