"""What happens when a wholesale order reaches a final state: the parent's commission and the reseller's
callback, both written in the transaction that moved the order."""

import uuid

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.channels import balance, wholesale
from app.channels.models import CallbackEvent, CallbackStatus, Commission, Reseller
from app.core.hooks import after_commit
from app.core.ids import utcnow
from app.core.money import yuan
from app.extensions import db
from app.ledger import services as ledger
from app.orders.models import Order
from app.queues import queue

#: API statuses that are announced to the reseller.
ANNOUNCED = ("delivered", "partially_delivered", "failed", "refunded")


def order_settled(order: Order) -> None:
    """Called in the transaction that settled a wholesale order (every unit delivered or refunded)."""
    accrue_commission(order)
    announce(order)


def accrue_commission(order: Order) -> Commission | None:
    """The parent earns (sub-agent price − its own cost) on each delivered unit: commission expense against
    commission payable to the parent. Once per order (unique), so a rerun posts nothing."""
    if not order.commission_unit_fen or order.reseller_id is None:
        return None
    agent = db.session.get(Reseller, order.reseller_id)
    units = wholesale.delivered_quantity(order)
    if agent.parent_id is None or units == 0:
        return None
    if db.session.scalar(sa.select(Commission.id).where(Commission.order_id == order.id)):
        return None
    amount = order.commission_unit_fen * units
    row = Commission(reseller_id=agent.parent_id, agent_id=agent.id, order_id=order.id, units=units,
                     amount_fen=amount)
    db.session.add(row)
    ledger.post("commission", [("6602", amount), (balance.commission_account(agent.parent_id), -amount)],
                key=f"order:{order.id}:commission", memo=order.order_no, ref=("order", order.id))
    return row


def announce(order: Order) -> CallbackEvent | None:
    """Write the callback for the order's current API status (once per status), to send after commit."""
    status = wholesale.api_status(order)
    if not order.notify_url or status not in ANNOUNCED:
        return None
    return _callback(order, f"order.{status}", f"order.{status}")


#: The callback of money given back after delivery (docs/reseller-api-extensions.md).
UNIT_REFUNDED = "order.unit_refunded"


def announce_refund(order: Order, refund_no: str, amount_fen: int) -> CallbackEvent | None:
    """Write the callback of a delivered unit refunded (fully or in part) after-sales, once per refund: the
    order's status does not change, so the `refund` part says what came back to the balance."""
    if not order.notify_url:
        return None
    return _callback(order, UNIT_REFUNDED, f"{UNIT_REFUNDED}:{refund_no}",
                     refund={"refund_no": refund_no, "amount": yuan(amount_fen), "currency": "CNY"})


def _callback(order: Order, type_: str, row_type: str, **extra) -> CallbackEvent | None:
    """The outbox row, once per (order, row_type), its body frozen now, sent after commit."""
    if db.session.scalar(sa.select(CallbackEvent.id).where(CallbackEvent.order_id == order.id,
                                                           CallbackEvent.type == row_type)):
        return None
    event_id = "evt_" + uuid.uuid4().hex
    try:
        with db.session.begin_nested():
            event = CallbackEvent(event_id=event_id, reseller_id=order.reseller_id, order_id=order.id,
                                  type=row_type, url=order.notify_url, status=CallbackStatus.pending,
                                  next_attempt_at=utcnow(), payload={"event_id": event_id, "type": type_,
                                                                     "order": wholesale.to_api(order), **extra})
            db.session.add(event)
    except IntegrityError:
        return None
    db.session.flush()
    callback_id = event.id
    after_commit(db.session(), lambda: queue("callbacks").enqueue("jobs.callbacks.send", callback_id))
    return event
