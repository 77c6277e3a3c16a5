"""Refunding a unit that was delivered (after-sales): fully or in part, through the path its order was paid by.

The unit's revenue was booked when it was delivered (services.recognise), so the refunded part is first taken
out of sales (a sales return: 6001 back, and its share of the sales discount 6003) into customer prepayments
(2203); from there it leaves the way an undeliverable unit's refund does: a retail buyer's wallet part first,
then the gateway through the refund outbox (app/payments/refunds.py); a reseller's prepaid balance and an
enterprise's balance through their receivers of signals.unit_refunded. Each part is one UnitRefund row keyed by
the caller, so a retry refunds nothing twice, and the order row lock serialises the parts of one unit, so they
never add up to more than it. The unit and its benefit keep their state: replacing or voiding the code is the
caller's decision (app/service). A reseller's stocked order has no delivery rows (its codes were issued straight
to it): refund_code refunds one of its codes at the order's unit price."""

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core.audit import audit
from app.core.errors import Conflict, ValidationError
from app.core.money import yuan
from app.extensions import db
from app.fulfilment import engine, signals
from app.fulfilment.models import Delivery, UnitRefund
from app.fulfilment.models import DeliveryStatus as D
from app.inventory.models import Code, CodeStatus
from app.ledger import services as ledger
from app.notifications import services as notifications
from app.orders.models import Order
from app.payments import refunds

MAX_KEY = 80


@dataclass(frozen=True)
class CodeUnit:
    """A unit of a reseller's stocked order: issued as a code with no delivery row (app/channels/wholesale.py
    bulk orders). What the receivers of signals.unit_refunded read of a unit (id, key, amount_fen)."""

    id: int
    key: str
    amount_fen: int
    discount_fen: int = 0


def refunded_of(delivery_id: int | None = None, code_id: int | None = None) -> int:
    """What was refunded of this delivered unit (a delivery, or a code of a stocked order) so far, in fen."""
    where = UnitRefund.delivery_id == delivery_id if delivery_id is not None else UnitRefund.code_id == code_id
    return int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(UnitRefund.amount_fen), 0)).where(where)))


def refundable(d: Delivery) -> int:
    """What can still be refunded of this unit (0 when it is not a delivered paid unit)."""
    if d.status != D.delivered or d.extra:
        return 0
    return max(d.amount_fen - refunded_of(d.id), 0)


def _validate(amount_fen, key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > MAX_KEY:
        raise ValidationError(_l("A refund needs a key of 1 to %(n)s characters.", n=MAX_KEY), code="REFUND_KEY")
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ValidationError(_l("Enter a refund amount greater than zero."), field="amount", code="REFUND_AMOUNT")
    return key


def _done(key: str, **unit) -> UnitRefund | None:
    done = db.session.scalars(sa.select(UnitRefund).where(UnitRefund.key == key)).first()
    if done is not None and any(getattr(done, col) != value for col, value in unit.items()):
        raise Conflict(_l("This refund key was used for another unit."), code="REFUND_KEY")
    return done


def refund_delivered(order: Order, d: Delivery, *, amount_fen: int, actor_id: int | None, reason: str,
                     key: str, ip: str | None = None) -> UnitRefund:
    """Refund `amount_fen` (1 … what is left of the unit) of a delivered unit, in the caller's transaction (the
    caller commits). The same `key` again returns the first refund and moves nothing. Raises ValidationError
    (bad amount, more than is left) or Conflict (not a delivered unit; the key used for another unit) and then
    has changed nothing."""
    key = _validate(amount_fen, key)
    if d.order_id != order.id:
        raise Conflict(_l("This unit is not part of that order."), code="REFUND_UNIT")
    order, d = engine.lock(d.id)  # the order row first, as every delivery path does: the parts of a unit queue
    done = _done(key, delivery_id=d.id)
    if done is not None:
        return done
    if d.status != D.delivered or d.extra:
        raise Conflict(_l("Only a delivered unit can be refunded after-sales."), code="REFUND_NOT_DELIVERED")
    return _refund(order, d, amount_fen, actor_id=actor_id, reason=reason, key=key, ip=ip, delivery_id=d.id)


def refund_code(order: Order, code_id: int, *, amount_fen: int, actor_id: int | None, reason: str, key: str,
                ip: str | None = None) -> UnitRefund:
    """refund_delivered() for a unit of a reseller's stocked order, named by its issued code (such orders
    have no delivery rows: an order with deliveries is refunded by its deliveries only): worth the order's unit
    price, back to the reseller's prepaid balance."""
    key = _validate(amount_fen, key)
    order = db.session.get(Order, order.id, with_for_update=True, populate_existing=True)
    done = _done(key, code_id=code_id)
    if done is not None:
        return done
    status = db.session.scalar(sa.select(Code.status).where(Code.id == code_id, Code.order_id == order.id))
    unit_by_unit = db.session.scalar(sa.select(Delivery.id).where(Delivery.order_id == order.id).limit(1))
    if status not in (CodeStatus.delivered, CodeStatus.void) or order.reseller_id is None or unit_by_unit:
        raise Conflict(_l("Only a delivered unit can be refunded after-sales."), code="REFUND_NOT_DELIVERED")
    unit = CodeUnit(id=code_id, key=f"{order.order_no}-C{code_id}", amount_fen=order.unit_price_fen)
    return _refund(order, unit, amount_fen, actor_id=actor_id, reason=reason, key=key, ip=ip, code_id=code_id)


def _refund(order: Order, unit: Delivery | CodeUnit, amount_fen: int, *, actor_id: int | None, reason: str,
            key: str, ip: str | None, **which) -> UnitRefund:
    before = refunded_of(**which)
    left = unit.amount_fen - before
    if amount_fen > left:
        raise ValidationError(_l("At most ¥%(amount)s of this unit can still be refunded.", amount=yuan(left)),
                              field="amount", code="REFUND_TOO_MUCH")
    row = UnitRefund(key=key, order_id=order.id, amount_fen=amount_fen, reason=(reason or "")[:200],
                     actor_id=actor_id, **which)
    db.session.add(row)
    db.session.flush()
    tag = f"U{row.id}"
    ledger.post("sales_return", sales_return(unit, before, amount_fen), key=f"unit_refund:{row.id}:return",
                memo=unit.key, ref=("order", order.id), actor_id=actor_id)
    if signals.taken(signals.unit_refunded.send(order, delivery=unit, actor_id=actor_id, amount_fen=amount_fen,
                                                key=f"unit_refund:{row.id}:refund_due", refund_no=tag)):
        if order.buyer_id is not None:
            notifications.notify(order.buyer_id, "order_refunded", {"order_no": order.order_no,
                                                                    "amount": yuan(amount_fen)},
                                 dedupe_key=f"refund:R{unit.key}-{tag}")
    else:
        refunds.refund_unit(order, unit, actor_id=actor_id, reason=(reason or "after-sales")[:200],
                            amount_fen=amount_fen, tag=tag)
    audit(actor_id, "unit.refund_delivered", "order", order.id, ip=ip, amount_fen=amount_fen, key=key,
          **{k: v for k, v in which.items()})
    return row


def sales_return(d: Delivery | CodeUnit, before: int, amount_fen: int) -> list[tuple[str, int]]:
    """The postings taking `amount_fen` of a delivered unit back out of revenue into prepayments (the reverse of
    services.revenue_postings for that part): its share of the unit's discount comes off the sales discount,
    shared by the running total so that the parts of a unit refunded in full reverse exactly its revenue."""
    share = d.discount_fen * (before + amount_fen) // d.amount_fen - d.discount_fen * before // d.amount_fen \
        if d.amount_fen else 0
    return [("6001", amount_fen + share), ("6003", -share), ("2203", -amount_fen)]
