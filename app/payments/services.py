"""Payments: starting a checkout, applying the gateway's verdict exactly once, refunds."""

import json
import logging
from collections.abc import Callable

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from app.core import metrics
from app.core.errors import InsufficientStock, NotFound, TransitionError, ValidationError
from app.core.hooks import after_commit
from app.core.ids import utcnow
from app.core.rejections import count_rejected
from app.core.states import transition
from app.extensions import db
from app.ledger import services as ledger
from app.orders.models import ORDER_TRANSITIONS, Order, OrderStatus
from app.orders.services import reserve_stock
from app.payments import signals, wallet, wallet_orders
from app.payments.gateway import GatewayError, Notice, gateway
from app.payments.models import PAYMENT_TRANSITIONS, Payment, PaymentNotification, PaymentStatus
from app.queues import queue
from app.risk import engine as risk

log = logging.getLogger(__name__)
#: Where rejected gateway notices are counted (app.core.rejections).
NOTICE_SOURCE = "paygate:sandbox"


#: Gateway payments that are not an order's, by the prefix of their out_trade_no: prefix → fn(notice) → outcome,
#: applied in the notice's transaction like apply_success (stored-value top-ups and gift cards register theirs,
#: app/loyalty/hooks.py). Their numbers never start like an order number ("Q…", "W…").
OTHER_PAYABLES: dict[str, Callable[[Notice], str]] = {}


def register_payable(prefix: str, apply: Callable[[Notice], str]) -> None:
    OTHER_PAYABLES[prefix] = apply


def _other_payable(out_trade_no: str) -> Callable[[Notice], str] | None:
    return next((fn for prefix, fn in OTHER_PAYABLES.items() if out_trade_no.startswith(prefix)), None)


def notice_from_query(out_trade_no: str) -> Notice | None:
    """Ask the gateway about a trade (the payer came back before the notification did): the Notice to apply if
    it is paid, else None (the caller commits before: on SQLite a transaction holds the write lock)."""
    try:
        data = gateway().query(out_trade_no)
    except GatewayError as e:
        log.warning("gateway query for %s failed: %s", out_trade_no, e)
        return None
    if data.get("trade_status") != "SUCCESS":
        return None
    return Notice(notify_id=f"query:{data['trade_no']}", out_trade_no=out_trade_no, trade_no=data["trade_no"],
                  amount_fen=data["amount_fen"], currency=data["currency"], trade_status="SUCCESS",
                  timestamp=int(data["timestamp"]))


def payment_for(order: Order) -> Payment:
    payment = db.session.scalars(sa.select(Payment).where(Payment.order_id == order.id)).first()
    if payment is None:
        raise NotFound("payment")
    return payment


def checkout_url(order: Order, notify_url: str, return_url: str) -> str:
    payment = payment_for(order)
    return gateway().checkout_url(out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen,
                                  subject=f"{order.sku.name} ×{order.quantity}", notify_url=notify_url,
                                  return_url=return_url)


def _payload(form: dict) -> str:
    return json.dumps({k: v for k, v in form.items() if k != "sign"}, ensure_ascii=False, sort_keys=True)[:4000]


def _record(outcome: str, form: dict, out_trade_no: str | None = None) -> None:
    """Record a notification that changes nothing (a replay's second copy)."""
    db.session.add(PaymentNotification(provider="sandbox", outcome=outcome, out_trade_no=out_trade_no,
                                       payload=_payload(form)))


def _record_first(form: dict, notice: Notice) -> int | None:
    """Record a verified notification as received, keyed by its notify id; its row id, or None if that id
    was recorded before (a replay). One INSERT … ON CONFLICT DO NOTHING: no savepoint around it."""
    dialect = db.session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    values = dict(provider="sandbox", dedupe_key=f"sandbox:{notice.notify_id}", outcome="received",
                  out_trade_no=notice.out_trade_no, payload=_payload(form), created_at=utcnow())
    if insert is not None:
        return db.session.execute(insert(PaymentNotification).values(**values)
                                  .on_conflict_do_nothing(index_elements=["dedupe_key"])
                                  .returning(PaymentNotification.id)).scalar()
    row = PaymentNotification(**values)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        return None
    return row.id


def handle_notification(form: dict) -> str:
    """Apply a gateway notification. Returns the outcome; only `applied`/`refunding` change state."""
    outcome = _handle_notification(form)
    metrics.count_notice(outcome)
    return outcome


def _handle_notification(form: dict) -> str:
    try:
        notice = gateway().parse_notice(form)
    except GatewayError as e:
        log.warning("payment notification refused: %s", e)
        count_rejected(NOTICE_SOURCE, str(e))
        db.session.commit()
        return str(e)
    row_id = _record_first(form, notice)
    if row_id is None:
        db.session.rollback()
        log.info("payment notification %s replayed; ignored", notice.notify_id)
        _record("duplicate", form, notice.out_trade_no)
        db.session.commit()
        return "duplicate"
    outcome = apply_success(notice)
    db.session.execute(sa.update(PaymentNotification).where(PaymentNotification.id == row_id)
                       .values(outcome=outcome).execution_options(synchronize_session=False))
    if outcome == "unknown_order":  # signed, but for nothing of ours: counted like the forged ones
        db.session.rollback()
        count_rejected(NOTICE_SOURCE, outcome)
        db.session.commit()
        return "unknown_order"
    db.session.commit()
    return outcome


def apply_success(notice: Notice) -> str:
    """Mark the payment succeeded and deliver, in the caller's transaction (the caller commits)."""
    payment = db.session.scalars(sa.select(Payment).where(Payment.out_trade_no == notice.out_trade_no)
                                 .execution_options(populate_existing=True)).first()
    if payment is None:
        other = _other_payable(notice.out_trade_no)
        if other is not None:
            return other(notice)
        log.warning("payment notification for unknown order %s", notice.out_trade_no)
        return "unknown_order"
    if notice.trade_status != "SUCCESS":
        return "ignored_status"
    if notice.amount_fen != payment.amount_fen:
        log.warning("payment %s amount mismatch: got %s expected %s", payment.id, notice.amount_fen,
                    payment.amount_fen)
        return "amount_mismatch"
    if notice.currency != payment.currency:
        log.warning("payment %s currency mismatch: %s", payment.id, notice.currency)
        return "currency_mismatch"
    # Lock the order first, as expiry and cancellation do, so the two paths never deadlock. The payment's
    # status is not read again under that lock: its transition below is a compare-and-set on the status
    # read above, so a concurrent copy of this notice that won makes it fail ("duplicate").
    order = db.session.get(Order, payment.order_id, with_for_update=True, populate_existing=True)
    if payment.status not in (PaymentStatus.created, PaymentStatus.closed):
        return "duplicate"
    try:
        transition(payment, PaymentStatus.succeeded, allowed=PAYMENT_TRANSITIONS, actor_id=None,
                   reason="gateway notification", gateway_trade_no=notice.trade_no, paid_at=utcnow())
    except TransitionError:
        # Either a concurrent copy of this notice won, or the order's closing (expiry, cancellation, a failed
        # group buy), which held the order's lock we waited for, closed the payment: the money was paid all
        # the same, so it is applied from there (and honoured or refunded below), never lost as a duplicate.
        db.session.refresh(payment)
        if payment.status != PaymentStatus.closed:
            return "duplicate"
        try:
            transition(payment, PaymentStatus.succeeded, allowed=PAYMENT_TRANSITIONS, actor_id=None,
                       reason="gateway notification", gateway_trade_no=notice.trade_no, paid_at=utcnow())
        except TransitionError:
            return "duplicate"
    ledger.post("payment", [("1122", payment.amount_fen), ("2203", -payment.amount_fen)],
                key=f"payment:{payment.id}:captured", memo=payment.out_trade_no, ref=("payment", payment.id))
    if order.status in (OrderStatus.expired, OrderStatus.cancelled):
        # Paid after the window closed: honour it if the stock is still there, else refund. Its wallet part
        # went back to the wallet when it closed: the order cannot be whole again, so the gateway part is refunded.
        if order.wallet_fen:
            _start_refund(payment, order, "paid after the order closed; wallet part already returned")
            return "refunding"
        try:
            reserve_stock(order)
        except InsufficientStock:
            _start_refund(payment, order, "paid after the order closed; stock gone")
            return "refunding"
    transition(order, OrderStatus.paid, allowed=ORDER_TRANSITIONS, actor_id=None, reason="payment succeeded",
               paid_at=utcnow())
    signals.order_paid.send(order)
    return "applied"


def capture_without_gateway(order: Order, *, reason: str, actor_id: int | None = None) -> Payment:
    """Mark paid an unpaid order whose remaining amount is 0 (wholly covered by the wallet, or by points in the
    points mall), in the caller's transaction (the caller commits), exactly as apply_success does for a
    gateway notice: the order's lock first, then its Payment created → succeeded (amount 0, provider
    "internal"; the row is written if the order has none yet), the order pending_payment → paid, and
    `signals.order_paid` sent (delivery starts in this transaction). Whatever covered the order was posted by
    the caller (e.g. wallet.debit into 2203); nothing goes through 1122 here.

    Raises ValidationError (code "PAYMENT_NOT_ZERO") if the order still has a gateway amount to pay, and
    TransitionError if the order is no longer unpaid or its payment no longer open (a concurrent capture or
    the order's expiry won)."""
    order = db.session.get(Order, order.id, with_for_update=True, populate_existing=True)
    payment = db.session.scalars(sa.select(Payment).where(Payment.order_id == order.id)
                                 .execution_options(populate_existing=True)).first()
    if payment is None:
        payment = Payment(order_id=order.id, out_trade_no=order.order_no, amount_fen=0, provider="internal")
        db.session.add(payment)
        db.session.flush()
    if payment.amount_fen != 0:
        raise ValidationError(_l("This order still has an amount to pay."), code="PAYMENT_NOT_ZERO")
    if order.status != OrderStatus.pending_payment:
        raise TransitionError(f"orders {order.id} is {order.status}, not pending_payment")
    now = utcnow()
    transition(payment, PaymentStatus.succeeded, allowed=PAYMENT_TRANSITIONS, actor_id=actor_id, reason=reason,
               provider="internal", paid_at=now)
    transition(order, OrderStatus.paid, allowed=ORDER_TRANSITIONS, actor_id=actor_id, reason=reason, paid_at=now)
    signals.order_paid.send(order)
    return payment


def pay_with_wallet(order: Order, *, actor_id: int | None = None) -> int:
    """Apply the buyer's wallet to their unpaid order, in the caller's transaction (the caller commits): as much
    as the balance covers of what is left for the gateway is debited into 2203, recorded on the order
    (wallet_fen) and taken off the Payment; an order wholly covered is paid at once (capture_without_gateway).
    Returns the amount taken. Refuses (ValidationError) an order no longer unpaid, one the wallet was already
    applied to, and an empty wallet (WALLET_INSUFFICIENT)."""
    order = db.session.get(Order, order.id, with_for_update=True, populate_existing=True)
    payment = db.session.scalars(sa.select(Payment).where(Payment.order_id == order.id)
                                 .execution_options(populate_existing=True)).first()
    if order.status != OrderStatus.pending_payment or payment is None or payment.status != PaymentStatus.created:
        raise ValidationError(_l("This order is no longer waiting for payment."), code="ORDER_NOT_UNPAID")
    if order.wallet_fen:
        raise ValidationError(_l("Your wallet was already applied to this order."), code="WALLET_ALREADY_APPLIED")
    wallet.lock(order.buyer_id)
    amount = min(wallet.balance(order.buyer_id), payment.amount_fen)
    if amount <= 0:
        raise wallet.WalletInsufficient(_l("Your wallet balance is not enough."))
    wallet_orders.take(order, amount)
    db.session.execute(sa.update(Payment).where(Payment.id == payment.id)
                       .values(amount_fen=Payment.amount_fen - amount).execution_options(synchronize_session=False))
    db.session.execute(sa.update(Order).where(Order.id == order.id).values(wallet_fen=amount)
                       .execution_options(synchronize_session=False))
    sa.orm.attributes.set_committed_value(order, "wallet_fen", amount)
    sa.orm.attributes.set_committed_value(payment, "amount_fen", payment.amount_fen - amount)
    if payment.amount_fen == 0:
        capture_without_gateway(order, reason="paid from the wallet", actor_id=actor_id)
    return amount


def refund_in_full(order: Order, reason: str) -> None:
    """Refund the whole of a paid order's payment, in the caller's transaction: the gateway is asked after
    commit, and the refund sweep retries until it has answered. A second call raises TransitionError. The
    order's wallet part, if any, goes back to the wallet at once (app/payments/wallet_orders.py)."""
    _start_refund(payment_for(order), order, reason)


def _start_refund(payment: Payment, order: Order, reason: str) -> None:
    transition(payment, PaymentStatus.refund_pending, allowed=PAYMENT_TRANSITIONS, actor_id=None,
               reason=reason, refund_reason=reason[:200])
    wallet_orders.refund_in_full(order)
    if payment.amount_fen == 0:  # nothing went through the gateway: nothing to ask it
        transition(payment, PaymentStatus.refunded, allowed=PAYMENT_TRANSITIONS, actor_id=None,
                   reason="nothing paid through the gateway")
        return
    ledger.post("refund", [("2203", payment.amount_fen), ("2241", -payment.amount_fen)],
                key=f"payment:{payment.id}:refund_due", memo=payment.out_trade_no, ref=("payment", payment.id))
    signals.order_refunded.send(order, amount_fen=payment.amount_fen, key=f"R{payment.out_trade_no}")
    # The payment row in refund_pending is the outbox entry: `process_refunds` sends (and retries) it;
    # enqueueing after commit only makes the first try immediate.
    payment_id = payment.id
    after_commit(db.session(), lambda: queue("payments").enqueue("jobs.payments.refund_payment", payment_id))


def refund(payment_id: int) -> bool:
    """Send a pending refund to the gateway (idempotent there by out_refund_no) and settle it here."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.status != PaymentStatus.refund_pending:
        return False
    gateway().refund(out_trade_no=payment.out_trade_no, out_refund_no=f"R{payment.out_trade_no}",
                     amount_fen=payment.amount_fen, reason=payment.refund_reason or "")
    try:
        transition(payment, PaymentStatus.refunded, allowed=PAYMENT_TRANSITIONS, actor_id=None,
                   reason="gateway refunded")
    except TransitionError:
        db.session.rollback()
        return False
    ledger.post("refund", [("2241", payment.amount_fen), ("1122", -payment.amount_fen)],
                key=f"payment:{payment.id}:refunded", memo=payment.out_trade_no, ref=("payment", payment.id))
    db.session.commit()
    return True


def pending_refunds() -> list[int]:
    return list(db.session.scalars(sa.select(Payment.id).where(Payment.status == PaymentStatus.refund_pending)))


def sync_from_gateway(order: Order) -> str:
    """Ask the gateway about an order (the payer came back before the notification did)."""
    payment = payment_for(order)
    if payment.status != PaymentStatus.created:
        return payment.status
    out_trade_no = payment.out_trade_no
    # End the transaction before the network call: on SQLite it holds the write lock. apply_success
    # re-reads the payment under the order's lock.
    db.session.commit()
    try:
        data = gateway().query(out_trade_no)
    except GatewayError as e:
        log.warning("gateway query for %s failed: %s", out_trade_no, e)
        return PaymentStatus.created
    if data.get("trade_status") != "SUCCESS":
        if data.get("trade_status") == "CLOSED":  # the payer gave up or the payment failed: risk counts it
            risk.failed_payment(order.buyer_id, out_trade_no)
        return PaymentStatus.created
    notice = Notice(notify_id=f"query:{data['trade_no']}", out_trade_no=out_trade_no,
                    trade_no=data["trade_no"], amount_fen=data["amount_fen"], currency=data["currency"],
                    trade_status="SUCCESS", timestamp=int(data["timestamp"]))
    outcome = apply_success(notice)
    db.session.commit()
    return outcome
