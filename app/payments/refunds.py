"""Refunds of single undeliverable units: ledger first, then the gateway through the refund outbox."""

import logging
from typing import Protocol

import sqlalchemy as sa

from app.core.hooks import after_commit
from app.core.ids import utcnow
from app.core.money import yuan
from app.core.states import transition
from app.extensions import db
from app.ledger import services as ledger
from app.notifications import services as notifications
from app.notifications.links import link_to
from app.orders.models import Order
from app.payments import signals, wallet_orders
from app.payments.gateway import gateway
from app.payments.models import REFUND_TRANSITIONS, Payment, Refund, RefundStatus
from app.queues import queue

log = logging.getLogger(__name__)


class Unit(Protocol):
    """What a refund needs of one delivered-or-failed unit of an order (fulfilment's Delivery is one)."""

    id: int
    key: str
    amount_fen: int


def refund_unit(order: Order, d: Unit, *, actor_id: int | None, reason: str, amount_fen: int | None = None,
                tag: str = "") -> Refund | None:
    """In the caller's transaction: the unit's amount goes back, the wallet part first (what the order's wallet
    part has not yet given back returns to the wallet at once, app/payments/wallet_orders.py), the rest leaves
    prepayments for refunds payable with a pending Refund row (the outbox entry; the gateway call happens after
    commit). Returns that Refund, or None when the wallet took the whole unit back.

    `amount_fen` (default: the whole unit) and `tag` serve a unit refunded more than once, in parts, after it
    was delivered (app/fulfilment/after_sales.py): each part has its own tag, so its own keys and out_refund_no;
    the caller has put the amount back into prepayments (2203) first."""
    amount = d.amount_fen if amount_fen is None else amount_fen
    suffix = f"-{tag}" if tag else ""
    payment = db.session.scalars(sa.select(Payment).where(Payment.order_id == order.id)).one()
    refunded_before = db.session.scalar(sa.select(Order.refunded_fen).where(Order.id == order.id)) \
        if order.wallet_fen else 0
    to_wallet = wallet_orders.refund_unit(order, d.id, amount, refunded_before,
                                          key=f"delivery:{d.id}:wallet_refund{suffix}") if order.wallet_fen else 0
    to_gateway = amount - to_wallet
    refund = None
    if to_gateway:
        ledger.post("refund", [("2203", to_gateway), ("2241", -to_gateway)],
                    key=f"delivery:{d.id}:refund_due{suffix}", memo=d.key, ref=("order", order.id),
                    actor_id=actor_id)
        refund = Refund(payment_id=payment.id, out_refund_no=f"R{d.key}{suffix}", amount_fen=to_gateway,
                        reason=reason, actor_id=actor_id)
        db.session.add(refund)
    db.session.execute(sa.update(Order).where(Order.id == order.id)
                       .values(refunded_fen=Order.refunded_fen + amount)
                       .execution_options(synchronize_session=False))
    db.session.flush()
    # keyed by the unit, not the Refund row: a unit the wallet took back in full has no Refund (refund is None)
    signals.order_refunded.send(order, amount_fen=amount, key=f"R{d.key}{suffix}")
    if order.buyer_id is not None:
        notifications.notify(order.buyer_id, "order_refunded", {"order_no": order.order_no,
                                                                "amount": yuan(amount)},
                             link=link_to("consumer.order_detail", order_no=order.order_no),
                             dedupe_key=f"refund:R{d.key}{suffix}")
    if refund is not None:
        refund_id = refund.id
        after_commit(db.session(), lambda: queue("payments").enqueue("jobs.payments.send_refund", refund_id))
    return refund


def send(refund_id: int) -> bool:
    """Ask the gateway to refund (idempotent there by out_refund_no) and settle the ledger here."""
    refund = db.session.get(Refund, refund_id)
    if refund is None or refund.status != RefundStatus.pending:
        return False
    payment = db.session.get(Payment, refund.payment_id)
    gateway().refund(out_trade_no=payment.out_trade_no, out_refund_no=refund.out_refund_no,
                     amount_fen=refund.amount_fen, reason=refund.reason)
    refund = db.session.get(Refund, refund_id, with_for_update=True, populate_existing=True)
    if refund.status != RefundStatus.pending:
        db.session.rollback()
        return False
    transition(refund, RefundStatus.done, allowed=REFUND_TRANSITIONS, actor_id=None, reason="gateway refunded",
               done_at=utcnow())
    ledger.post("refund", [("2241", refund.amount_fen), ("1122", -refund.amount_fen)],
                key=f"refund:{refund.id}:paid", memo=refund.out_refund_no, ref=("payment", payment.id))
    db.session.commit()
    return True


def pending() -> list[int]:
    return list(db.session.scalars(sa.select(Refund.id).where(Refund.status == RefundStatus.pending)))
