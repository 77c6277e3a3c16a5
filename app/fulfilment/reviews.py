"""The review queue: orders risk control held for a person to look at (app.orders.services.hold_for_review).

Ops approve one, which delivers it if it is paid (or when it is paid), or reject it, which refunds it through the
gateway if it is paid (cancels it if not) and may freeze the buyer. A hold nobody decided by its due time
escalates to every ops and admin user.

Locks: a decision locks the order first, as the payment notice does (payments.apply_success), then moves the
review by compare-and-set, so of two reviewers exactly one wins, and a payment landing at the same moment sees
either the pending review (nothing delivered; approval then starts it, rejection refunds it) or the decided one
(delivered, or refunded by `on_paid`)."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.catalog.models import Sku
from app.core.audit import audit
from app.core.errors import Conflict, NotFound, TransitionError, ValidationError
from app.core.ids import utcnow
from app.core.money import yuan
from app.core.pages import KeysetPage, keyset
from app.core.states import transition
from app.extensions import db
from app.fulfilment import services as fulfilment
from app.fulfilment.risk_alerts import notify_ops
from app.inventory import services as inventory
from app.notifications import services as notifications
from app.notifications.links import link_to
from app.orders import services as orders
from app.orders.models import (
    ORDER_TRANSITIONS,
    REVIEW_TRANSITIONS,
    Order,
    OrderReview,
    OrderStatus,
    ReviewStatus,
)
from app.payments import services as payments
from app.risk import freezes
from app.risk.models import Decision

NOTE_MAX = 500

_ALREADY = {
    ReviewStatus.approved: _l("This order was already approved by another reviewer."),
    ReviewStatus.rejected: _l("This order was already rejected by another reviewer."),
}


@dataclass
class Item:
    """One row of the queue: the review with its order, buyer, SKU and the decision that held it."""

    review: OrderReview
    order: Order
    sku: Sku
    buyer: User | None
    decision: Decision | None
    decided_by: User | None = None

    def age_minutes(self, now: datetime | None = None) -> int:
        return max(0, int(((now or utcnow()) - self.review.created_at).total_seconds() // 60))


# --- deciding ---------------------------------------------------------------------------------------------------


def _note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationError(_l("Keep the note under %(n)s characters.", n=NOTE_MAX), field="note")
    return note


def _lock(review_id: int) -> tuple[OrderReview, Order]:
    """The review and its order, the order locked (the payment notice's lock) and both read afresh."""
    review = db.session.get(OrderReview, review_id)
    if review is None:
        raise NotFound(_l("Review not found."))
    order = db.session.get(Order, review.order_id, with_for_update=True, populate_existing=True)
    db.session.refresh(review)
    return review, order


def _decide(actor: User, review: OrderReview, to: ReviewStatus, note: str, **values) -> None:
    """Move the review, or roll back and say who was first."""
    try:
        transition(review, to, allowed=REVIEW_TRANSITIONS, actor_id=actor.id, reason=f"review {to}",
                   decided_by_id=actor.id, decided_at=utcnow(), note=note, **values)
    except TransitionError:
        db.session.rollback()
        current = db.session.scalar(sa.select(OrderReview.status).where(OrderReview.id == review.id))
        raise Conflict(_ALREADY.get(current, _l("This order was already reviewed.")),
                       code="REVIEW_DECIDED") from None


def approve(actor: User, review_id: int, note: str = "") -> OrderReview:
    """Approve a held order: a paid one starts delivering now (as its payment would have started it), an
    unpaid one delivers when it is paid. Conflict if the review was decided already."""
    note = _note(note)
    review, order = _lock(review_id)
    _decide(actor, review, ReviewStatus.approved, note)
    started = order.status == OrderStatus.paid
    if started:
        fulfilment.begin(order)
    audit(actor.id, "risk.review_approved", "order_review", review.id, order_no=order.order_no, note=note,
          order_status=order.status, started=started)
    db.session.commit()
    return review


def reject(actor: User, review_id: int, note: str = "", freeze: bool = False) -> OrderReview:
    """Reject a held order: a paid one is refunded in full through the gateway, an unpaid one cancelled (a
    payment landing later is refunded); the buyer is told, and frozen too when `freeze`. One transaction.
    Conflict if the review was decided already."""
    note = _note(note)
    review, order = _lock(review_id)
    if freeze and order.buyer_id == actor.id:
        raise ValidationError(_l("You cannot freeze your own account."))
    _decide(actor, review, ReviewStatus.rejected, note, froze_account=bool(freeze and order.buyer_id))
    reason = f"rejected in review: {note}" if note else "rejected in review"
    was = order.status
    if was == OrderStatus.paid:
        _refund(order, reason[:200], actor.id)
    elif was == OrderStatus.pending_payment:
        orders.close_unpaid(order, actor.id, reason[:200])
        _tell_buyer(order, "review_cancelled", f"review-cancelled:{order.order_no}")
    if freeze and order.buyer_id:
        freezes.freeze_user(actor, order.buyer_id, (note or f"order {order.order_no} rejected in review")[:200],
                            commit=False)
    audit(actor.id, "risk.review_rejected", "order_review", review.id, order_no=order.order_no, note=note,
          order_status=was, froze=bool(freeze and order.buyer_id))
    db.session.commit()
    return review


def _refund(order: Order, reason: str, actor_id: int | None) -> None:
    """Refund a paid, undelivered order in full through the gateway (the refund sweep retries until it lands)."""
    transition(order, OrderStatus.refunded, allowed=ORDER_TRANSITIONS, actor_id=actor_id, reason=reason,
               refunded_fen=order.amount_fen)
    inventory.release(order.id)
    payments.refund_in_full(order, reason)
    _tell_buyer(order, "review_refunded", f"review-refund:{order.order_no}")


def _tell_buyer(order: Order, kind: str, key: str) -> None:
    if order.buyer_id is None:
        return
    notifications.notify(order.buyer_id, kind,
                         {"sku_name": order.sku.name, "order_no": order.order_no, "amount": yuan(order.amount_fen)},
                         link=link_to("consumer.order_detail", order_no=order.order_no), dedupe_key=key)


def on_paid(order: Order) -> bool:
    """payments.order_paid, before delivery, in one query: True if the order's review keeps it from starting now.
    A pending review holds it (approving it starts it); an order ops rejected while it was unpaid (so it was
    cancelled) and whose payment landed anyway is refunded, never delivered."""
    status = db.session.scalar(sa.select(OrderReview.status).where(OrderReview.order_id == order.id))
    if status == ReviewStatus.rejected:
        _refund(order, "paid after it was rejected in review", None)
    return status in (ReviewStatus.pending, ReviewStatus.rejected)


# --- escalation -------------------------------------------------------------------------------------------------


def escalate_due(now: datetime | None = None, limit: int = 200) -> int:
    """Mark pending reviews past their due time escalated and tell every active ops and admin user, once per
    review. Safe to run twice and concurrently. Returns how many it escalated."""
    now = now or utcnow()
    ids = db.session.scalars(sa.select(OrderReview.id).where(
        OrderReview.status == ReviewStatus.pending, OrderReview.escalated_at.is_(None), OrderReview.due_at < now)
        .order_by(OrderReview.due_at).limit(limit)).all()
    db.session.rollback()
    done = 0
    for review_id in ids:
        moved = db.session.execute(
            sa.update(OrderReview).where(OrderReview.id == review_id, OrderReview.status == ReviewStatus.pending,
                                         OrderReview.escalated_at.is_(None))
            .values(escalated_at=now).execution_options(synchronize_session=False)).rowcount
        if moved != 1:
            db.session.rollback()
            continue
        review = db.session.get(OrderReview, review_id)
        order = review.order
        hours = max(1, int((now - review.created_at).total_seconds() // 3600))
        notify_ops("review_escalated",
                   {"order_no": order.order_no, "amount": yuan(order.amount_fen), "sku_name": order.sku.name,
                    "hours": hours},
                   link=link_to("ops.risk_reviews"), key=f"review-escalated:{review_id}")
        db.session.commit()
        done += 1
    return done


# --- reading ----------------------------------------------------------------------------------------------------


def _items(rows) -> list[Item]:
    return [Item(*row) for row in rows]


def _select():
    buyer = sa.orm.aliased(User)
    decider = sa.orm.aliased(User)
    return (sa.select(OrderReview, Order, Sku, buyer, Decision, decider)
            .join(Order, Order.id == OrderReview.order_id).join(Sku, Sku.id == Order.sku_id)
            .outerjoin(buyer, buyer.id == Order.buyer_id).outerjoin(Decision, Decision.id == OrderReview.decision_id)
            .outerjoin(decider, decider.id == OrderReview.decided_by_id))


def pending(limit: int = 200) -> list[Item]:
    """Pending reviews, escalated ones first, then the oldest first."""
    return _items(db.session.execute(
        _select().where(OrderReview.status == ReviewStatus.pending)
        .order_by(OrderReview.escalated_at.is_(None), OrderReview.created_at, OrderReview.id).limit(limit)))


def pending_count() -> tuple[int, int]:
    """(pending, of which escalated)."""
    row = db.session.execute(sa.select(sa.func.count(), sa.func.count(OrderReview.escalated_at))
                             .where(OrderReview.status == ReviewStatus.pending)).one()
    return row[0], row[1]


def decided(after: str | None = None, before: str | None = None, per_page: int = 50) -> KeysetPage:
    """Decided reviews, the latest decided first (by id: the queue is short-lived, so close enough)."""
    page = keyset(_select().where(OrderReview.status != ReviewStatus.pending), (OrderReview.id,), (int,),
                  after=after, before=before, per_page=per_page, row_key=lambda row: (row[0].id,))
    page.items = _items(page.items)
    return page


def get(review_id: int) -> Item:
    row = db.session.execute(_select().where(OrderReview.id == review_id)).first()
    if row is None:
        raise NotFound(_l("Review not found."))
    return Item(*row)
