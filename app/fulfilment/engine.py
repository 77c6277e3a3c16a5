"""The delivery engine: one attempt at a time per delivery, every answer applied compare-and-set.

A worker claims a delivery with a lease (so two workers don't call the supplier for it at once), calls the
supplier with no database transaction open, then applies the answer in a transaction that first locks the
order row (the same order as payments and expiry, so they never deadlock) and then checks the delivery is
still in the state and on the out_order_no the answer is about. A late, duplicate or out-of-order answer —
from a callback, a poll or a slow worker — finds the state moved on and changes nothing.
"""

import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app.catalog.models import SkuType
from app.core import vault
from app.core.ids import utcnow
from app.core.rejections import count_rejected
from app.core.states import transition
from app.extensions import db
from app.fulfilment import notices, signals
from app.fulfilment.models import (
    DELIVERY_TRANSITIONS,
    ENTITLEMENT_TRANSITIONS,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    EntitlementStatus,
)
from app.fulfilment.services import count_outcome, enqueue, recognise, send, settle_order, waiting_jobs
from app.inventory import sealing
from app.inventory.models import Code, CodeStatus
from app.orders.models import Order, OrderStatus
from app.suppliers import services as suppliers
from app.suppliers.adapters import Card, Outcome, SupplierError, Verdict
from app.suppliers.models import Supplier

log = logging.getLogger(__name__)
D, E = DeliveryStatus, EntitlementStatus
ACTIVE = (D.queued, D.accepted)


def process(delivery_id: int) -> str:
    """One attempt (submit, or poll an accepted order) for a delivery. Safe to run twice, concurrently, or
    again after a crash: the supplier is idempotent by out_order_no and every write is compare-and-set."""
    cfg = current_app.config
    now = utcnow()
    claimed = db.session.execute(
        sa.update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status.in_(ACTIVE),
               sa.or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
               sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now + timedelta(seconds=1)))
        .values(lease_until=now + timedelta(seconds=cfg["FULFILMENT_LEASE_SECONDS"]))
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        db.session.commit()
        return "skipped"
    # Read what the call needs (and pick the supplier) in the claim's own transaction: one commit, not three.
    d = db.session.get(Delivery, delivery_id, populate_existing=True)
    if d.supplier_id is None and not _choose_supplier(d):
        out_order_no, status = d.out_order_no, d.status
        db.session.commit()
        return apply(delivery_id, out_order_no, status,
                     Outcome(Verdict.rejected, "no active supplier is mapped to this SKU"), "submitted")
    supplier = db.session.get(Supplier, d.supplier_id)
    adapter, callback = suppliers.adapter_for(supplier), suppliers.callback_url(supplier)
    status, out_order_no, product_id, account = d.status, d.out_order_no, d.supplier_product_id, d.account
    is_topup = d.sku.type == SkuType.direct_topup
    db.session.commit()  # the lease is taken; no transaction (on SQLite no write lock) across the network call
    if status == D.accepted:
        outcome, action = adapter.query(out_order_no), "polled"
    elif is_topup:
        outcome, action = adapter.topup(out_order_no, product_id, account, callback), "submitted"
    else:
        outcome, action = adapter.buy_cards(out_order_no, product_id, 1, callback), "submitted"
    return apply(delivery_id, out_order_no, status, outcome, action)


def _choose_supplier(d: Delivery) -> bool:
    """Point the delivery at its first mapped supplier; False if none."""
    mappings = suppliers.mappings_for(d.sku_id)
    if not mappings:
        return False
    pick = mappings[0]
    d.supplier_id, d.supplier_product_id, d.cost_fen = pick.supplier_id, pick.product_id, pick.cost_fen
    return True  # committed with the lease by the caller


def lock(delivery_id: int) -> tuple[Order, Delivery]:
    """Lock a delivery's order row, then the delivery: the order payments and expiry lock in, so none of
    them deadlock, and settling the order sees every unit's committed state."""
    order_id = db.session.scalar(sa.select(Delivery.order_id).where(Delivery.id == delivery_id))
    order = db.session.get(Order, order_id, with_for_update=True, populate_existing=True)
    return order, db.session.get(Delivery, delivery_id, with_for_update=True, populate_existing=True)


def apply(delivery_id: int, out_order_no: str | None, seen_status: str, outcome: Outcome, action: str,
          actor_id: int | None = None) -> str:
    """Apply a supplier's answer about `out_order_no`, if the delivery is still waiting for that answer."""
    order, d = lock(delivery_id)
    db.session.add(DeliveryAttempt(delivery_id=d.id, supplier_id=d.supplier_id, out_order_no=out_order_no,
                                   action=action, outcome=outcome.verdict, detail=outcome.detail[:300],
                                   actor_id=actor_id))
    verdict = outcome.verdict
    # A success that arrives after we gave up still counts: the customer got it, so it is delivered.
    late_success = d.status == D.failed and verdict == Verdict.delivered
    if d.out_order_no != out_order_no or (d.status not in ACTIVE and not late_success) or \
            (action != "callback" and d.status != seen_status and not late_success):
        db.session.commit()
        return "stale"
    if verdict == Verdict.delivered:
        result = _deliver(d, outcome)
    elif verdict == Verdict.accepted:
        result = _accepted(d, outcome)
    elif verdict == Verdict.unavailable:
        result = _failover(d, outcome.detail)
    elif verdict == Verdict.rejected:
        result = _fail(d, outcome.detail)
    else:
        result = _retry(d, outcome.detail, new_upstream=verdict == Verdict.failed)
    settle_order(order)
    db.session.commit()
    return result


def _set(d: Delivery, **values) -> None:
    """Compare-and-set on (status, out_order_no) without a status change."""
    n = db.session.execute(sa.update(Delivery).where(Delivery.id == d.id, Delivery.status == d.status,
                                                     Delivery.out_order_no == d.out_order_no)
                           .values(**values).execution_options(synchronize_session=False)).rowcount
    if n != 1:
        raise RuntimeError(f"delivery {d.id} changed under its row lock")
    for k, v in values.items():
        sa.orm.attributes.set_committed_value(d, k, v)


def _deliver(d: Delivery, outcome: Outcome) -> str:
    now = utcnow()
    ent = d.entitlement
    if d.sku.type == SkuType.direct_topup:
        transition(ent, E.used, allowed=ENTITLEMENT_TRANSITIONS, actor_id=None, reason="topped up",
                   used_at=now)
    else:
        if len(outcome.cards) != 1:
            return _retry(d, f"supplier sent {len(outcome.cards)} codes for one unit", new_upstream=True)
        code = _store_code(d, outcome.cards[0])
        if code is None:
            return _retry(d, "supplier sent a code that is already in our stock", new_upstream=True)
        valid = ent.valid_until
        transition(ent, E.unused, allowed=ENTITLEMENT_TRANSITIONS, actor_id=None, reason="code delivered",
                   code_id=code.id, valid_until=min(valid, code.expires_at) if code.expires_at and valid else valid)
    transition(d, D.delivered, allowed=DELIVERY_TRANSITIONS, actor_id=None, reason="supplier delivered",
               delivered_at=now, lease_until=None, next_attempt_at=None, last_error=None,
               upstream_order_no=outcome.upstream_order_no or d.upstream_order_no)
    recognise(d)
    notices.delivered(d)
    return "delivered"


def _store_code(d: Delivery, card: Card) -> Code | None:
    sealer = vault.Sealer()
    code = Code(**sealing.sealed(sealer, sealing.next_ids(1)[0], d.sku_id, card.code, card.secret),
                expires_at=card.expires_at, status=CodeStatus.delivered,
                order_id=d.order_id, delivered_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(code)
    except IntegrityError:
        log.warning("delivery %s: supplier %s sent a duplicate code", d.id, d.supplier_id)
        return None
    return code


def _accepted(d: Delivery, outcome: Outcome) -> str:
    cfg = current_app.config
    now = utcnow()
    poll = cfg["FULFILMENT_POLL_SECONDS"]
    if d.status == D.queued:
        transition(d, D.accepted, allowed=DELIVERY_TRANSITIONS, actor_id=None, reason="supplier accepted",
                   accepted_at=now, next_attempt_at=now + timedelta(seconds=poll), lease_until=None,
                   upstream_order_no=outcome.upstream_order_no)
    elif d.accepted_at and (now - d.accepted_at).total_seconds() > cfg["FULFILMENT_ACCEPT_TIMEOUT"]:
        return _fail(d, "the supplier accepted the order but never finished it")
    else:
        _set(d, next_attempt_at=now + timedelta(seconds=poll), lease_until=None)
    enqueue([d.id], delay=poll)
    return "accepted"


def _retry(d: Delivery, detail: str, new_upstream: bool) -> str:
    """Schedule the next attempt with back-off, or give up into the exception queue. `new_upstream`: the
    supplier finished this out_order_no as failed, so the next try needs a new one."""
    delays = current_app.config["FULFILMENT_RETRY_DELAYS"]
    attempts = d.attempts + 1
    if attempts > len(delays):
        return _fail(d, detail, attempts=attempts)
    delay = delays[attempts - 1]
    values = dict(attempts=attempts, next_attempt_at=utcnow() + timedelta(seconds=delay), lease_until=None,
                  last_error=detail[:300])
    if new_upstream:
        seq = d.upstream_seq + 1
        values.update(upstream_seq=seq, out_order_no=f"{d.key}-r{seq}", upstream_order_no=None)
    if d.status == D.accepted:
        transition(d, D.queued, allowed=DELIVERY_TRANSITIONS, actor_id=None, reason="retry", **values)
    else:
        _set(d, **values)
    enqueue([d.id], delay=delay)
    count_outcome(d, "retry")
    return "retry"


def _failover(d: Delivery, detail: str) -> str:
    """This supplier cannot sell the product: move to the next mapped one. Going round to the first again
    counts as an attempt, with back-off."""
    mappings = suppliers.mappings_for(d.sku_id)
    ids = [m.supplier_id for m in mappings]
    if not mappings:
        return _fail(d, f"{detail}; no other supplier is mapped")
    pos = ids.index(d.supplier_id) if d.supplier_id in ids else -1
    nxt = mappings[(pos + 1) % len(mappings)]
    seq = d.upstream_seq + 1
    switch = dict(supplier_id=nxt.supplier_id, supplier_product_id=nxt.product_id, cost_fen=nxt.cost_fen)
    if pos + 1 >= len(mappings):  # tried them all this round
        _set(d, **switch)
        return _retry(d, f"{detail} (every mapped supplier)", new_upstream=True)
    values = dict(switch, upstream_seq=seq, out_order_no=f"{d.key}-r{seq}", upstream_order_no=None,
                  next_attempt_at=utcnow(), lease_until=None, last_error=detail[:300])
    if d.status == D.accepted:
        transition(d, D.queued, allowed=DELIVERY_TRANSITIONS, actor_id=None, reason="failover", **values)
    else:
        _set(d, **values)
    enqueue([d.id])
    return "failover"


def _fail(d: Delivery, detail: str, attempts: int | None = None) -> str:
    transition(d, D.failed, allowed=DELIVERY_TRANSITIONS, actor_id=None, reason="retries exhausted",
               failed_at=utcnow(), lease_until=None, next_attempt_at=None, last_error=detail[:300],
               attempts=attempts if attempts is not None else d.attempts + 1)
    notices.failed(d)
    order = db.session.get(Order, d.order_id)
    signals.unit_failed.send(order, delivery=d)
    count_outcome(d, "failed")
    return "failed"


def handle_callback(supplier_code: str, method: str, path: str, headers, body: bytes) -> tuple[int, str]:
    """A supplier's signed callback: (HTTP status, reason). Unknown orders are acknowledged and ignored."""
    supplier = suppliers.by_code(supplier_code)
    if supplier is None:
        _rejected("supplier", "unknown_supplier")
        return 404, "unknown supplier"
    try:
        notice = suppliers.adapter_for(supplier).verify_callback(method, path, headers, body)
    except SupplierError as e:
        log.warning("callback from supplier %s refused: %s", supplier.code, e)
        _rejected(f"supplier:{supplier.code}", str(e))
        return 401, str(e)
    d = db.session.scalars(sa.select(Delivery).where(Delivery.out_order_no == notice.out_order_no,
                                                     Delivery.supplier_id == supplier.id)).first()
    if d is None:
        log.info("callback from %s for unknown order %s ignored", supplier.code, notice.out_order_no)
        _rejected(f"supplier:{supplier.code}", "unknown_order")
        return 200, "unknown order"
    if notice.outcome.verdict == Verdict.accepted:
        return 200, "still processing"
    result = apply(d.id, notice.out_order_no, d.status, notice.outcome, "callback")
    return 200, result


def _rejected(source: str, reason: str) -> None:
    count_rejected(source, reason)
    db.session.commit()


def sweep(limit: int = 1000) -> int:
    """Re-enqueue deliveries that are overdue and have no job waiting in Redis (their job was lost: Redis
    restarted, a worker was killed), and close paid orders that nothing is left to deliver for. Runs every few
    seconds; cheap when idle."""
    grace = timedelta(seconds=current_app.config["FULFILMENT_SWEEP_GRACE"])
    # A backlog longer than the grace is not a lost job: re-enqueueing it would fill the queue with duplicates
    # that each cost a worker a turn (a duplicate is only skipped). Only a delivery with no job waiting is sent
    # again; or one whose job a worker took between the two reads and has not leased yet, a rare duplicate.
    now = utcnow()
    ids = db.session.scalars(
        sa.select(Delivery.id).where(Delivery.status.in_(ACTIVE), Delivery.next_attempt_at < now - grace,
                                     sa.or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
        .order_by(Delivery.next_attempt_at).limit(limit)
    ).all()
    if ids:  # asked only when something is overdue: nothing to read in Redis when idle
        waiting = waiting_jobs(grace)
        ids = [i for i in ids if i not in waiting]
    stuck = db.session.scalars(
        sa.select(Order.id).where(Order.status == OrderStatus.paid,
                                  ~sa.exists().where(Delivery.order_id == Order.id,
                                                     Delivery.status.in_((*ACTIVE, D.failed))))
        .where(sa.exists().where(Delivery.order_id == Order.id)).limit(limit)
    ).all()
    if ids:
        # Re-arm what we re-enqueue: the next sweeps leave it alone for a grace period.
        db.session.execute(sa.update(Delivery).where(Delivery.id.in_(ids), Delivery.status.in_(ACTIVE))
                           .values(next_attempt_at=now).execution_options(synchronize_session=False))
    db.session.commit()
    send(ids)
    for order_id in stuck:
        settle_order(db.session.get(Order, order_id, with_for_update=True))
        db.session.commit()
    return len(ids)
