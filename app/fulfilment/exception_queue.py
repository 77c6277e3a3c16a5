"""The ops exception queue: deliveries whose retries ran out, and what ops can do about each.

Before anything that would hand the unit over another way (switch supplier, deliver by hand, refund), the
current supplier is asked about the last out_order_no: if it did deliver after all, that is applied and
the action stops, so a customer is never served twice, nor refunded for what they received.
"""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.catalog.models import SkuType
from app.core import vault
from app.core.audit import audit
from app.core.errors import Conflict, NotFound, ValidationError
from app.core.ids import utcnow
from app.core.models import StateChange
from app.core.states import transition
from app.extensions import db
from app.fulfilment import engine, signals
from app.fulfilment.models import (
    DELIVERY_TRANSITIONS,
    ENTITLEMENT_TRANSITIONS,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    EntitlementStatus,
)
from app.fulfilment.services import enqueue, recognise, settle_order, state_of
from app.inventory import sealing
from app.inventory.models import Code, CodeStatus
from app.orders.models import Order
from app.payments import refunds
from app.suppliers import services as suppliers
from app.suppliers.adapters import Verdict
from app.suppliers.models import Supplier

D, E = DeliveryStatus, EntitlementStatus


def failed_deliveries(sku_id: int | None = None, supplier_id: int | None = None, page: int = 1):
    q = (sa.select(Delivery).options(sa.orm.joinedload(Delivery.sku), sa.orm.joinedload(Delivery.entitlement))
         .where(Delivery.status == D.failed).order_by(Delivery.failed_at.desc(), Delivery.id.desc()))
    if sku_id:
        q = q.where(Delivery.sku_id == sku_id)
    if supplier_id:
        q = q.where(Delivery.supplier_id == supplier_id)
    return db.paginate(q, page=page, per_page=50, error_out=False)


def order_nos(items: list[Delivery]) -> dict[int, str]:
    """Order numbers of a page of deliveries, in one query."""
    ids = {d.order_id for d in items}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(Order.id, Order.order_no).where(Order.id.in_(ids))).all())


def context(d: Delivery, rows: list[dict]) -> dict:
    """A delivery's order with all its units, and the emails of the people in its history."""
    order = db.session.get(Order, d.order_id)
    units = db.session.scalars(sa.select(Delivery).options(sa.orm.joinedload(Delivery.sku))
                               .where(Delivery.order_id == order.id).order_by(Delivery.id)).all()
    people = {r["actor_id"] for r in rows if r.get("actor_id")} | ({order.buyer_id} - {None})
    emails = dict(db.session.execute(sa.select(User.id, User.email).where(User.id.in_(people))).all())
    return {"order": order, "units": units, "emails": emails, "order_state": state_of(order)}


def open_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(Delivery.status == D.failed))


def get(delivery_id: int) -> Delivery:
    d = db.session.get(Delivery, delivery_id)
    if d is None:
        raise NotFound(_l("Delivery not found."))
    return d


def history(d: Delivery) -> list[dict]:
    """Attempts and state changes, oldest first."""
    attempts = db.session.scalars(sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == d.id)
                                  .order_by(DeliveryAttempt.id)).all()
    changes = db.session.scalars(sa.select(StateChange).where(StateChange.aggregate == "deliveries",
                                                              StateChange.aggregate_id == d.id)
                                 .order_by(StateChange.id)).all()
    names = dict(db.session.execute(sa.select(Supplier.id, Supplier.name)).all())
    rows = [{"at": a.created_at, "kind": "attempt", "action": a.action, "outcome": a.outcome, "detail": a.detail,
             "supplier": names.get(a.supplier_id), "out_order_no": a.out_order_no, "actor_id": a.actor_id}
            for a in attempts]
    rows += [{"at": c.created_at, "kind": "state", "from": c.from_status, "to": c.to_status, "detail": c.reason,
              "actor_id": c.actor_id} for c in changes]
    return sorted(rows, key=lambda r: r["at"])


def _failed(delivery_id: int) -> Delivery:
    d = get(delivery_id)
    if d.status != D.failed:
        raise Conflict(_l("This delivery is no longer in the exception queue."))
    return d


def _ask_upstream(d: Delivery, confirmed: bool) -> None:
    """Make sure the current supplier did not deliver the last out_order_no after all."""
    if d.supplier_id is None or d.out_order_no is None:
        return
    supplier = db.session.get(Supplier, d.supplier_id)
    delivery_id, out_order_no = d.id, d.out_order_no
    db.session.rollback()
    outcome = suppliers.adapter_for(supplier).query(out_order_no)
    if outcome.verdict == Verdict.delivered:
        engine.apply(delivery_id, out_order_no, D.failed, outcome, "checked")
        raise Conflict(_l("The supplier did deliver this unit after all; it is now marked delivered."),
                       code="DELIVERED_AFTER_ALL")
    if outcome.verdict == Verdict.unknown and not confirmed:
        raise Conflict(_l("The supplier could not confirm that its order failed (%(detail)s). Try again later, "
                          "or tick the box once you have checked with the supplier.", detail=outcome.detail),
                       code="UPSTREAM_UNKNOWN")


def _lock(delivery_id: int) -> tuple[Order, Delivery]:
    order, d = engine.lock(delivery_id)
    if d.status != D.failed:
        db.session.rollback()
        raise Conflict(_l("This delivery is no longer in the exception queue."))
    return order, d


def _last_outcome(d: Delivery) -> str | None:
    return db.session.scalar(sa.select(DeliveryAttempt.outcome).where(DeliveryAttempt.delivery_id == d.id,
                                                                      DeliveryAttempt.action != "manual")
                             .order_by(DeliveryAttempt.id.desc()).limit(1))


def retry_now(actor_id: int, delivery_id: int) -> Delivery:
    """Back into the queue with a fresh set of retries (same out_order_no unless that one is finished)."""
    _failed(delivery_id)
    order, d = _lock(delivery_id)
    values = dict(attempts=0, next_attempt_at=utcnow(), lease_until=None, failed_at=None)
    if d.supplier_id is not None and _last_outcome(d) != Verdict.unknown:
        seq = d.upstream_seq + 1
        values.update(upstream_seq=seq, out_order_no=f"{d.key}-r{seq}", upstream_order_no=None)
    transition(d, D.queued, allowed=DELIVERY_TRANSITIONS, actor_id=actor_id, reason="retry by ops", **values)
    _log(d, actor_id, "retry", "retry", "")
    audit(actor_id, "delivery.retry", "delivery", d.id)
    enqueue([d.id])
    db.session.commit()
    return d


def switch_supplier(actor_id: int, delivery_id: int, supplier_id: int, confirmed: bool = False) -> Delivery:
    d = _failed(delivery_id)
    mapping = next((m for m in suppliers.mappings_for(d.sku_id) if m.supplier_id == supplier_id), None)
    if mapping is None:
        raise ValidationError(_l("That supplier is not mapped to this SKU (or is inactive)."))
    _ask_upstream(d, confirmed)
    order, d = _lock(delivery_id)
    seq = d.upstream_seq + 1
    transition(d, D.queued, allowed=DELIVERY_TRANSITIONS, actor_id=actor_id, reason="supplier switched by ops",
               supplier_id=mapping.supplier_id, supplier_product_id=mapping.product_id, cost_fen=mapping.cost_fen,
               upstream_seq=seq, out_order_no=f"{d.key}-r{seq}", upstream_order_no=None, attempts=0,
               next_attempt_at=utcnow(), lease_until=None, failed_at=None)
    _log(d, actor_id, "switch", "switched", mapping.supplier.name)
    audit(actor_id, "delivery.switch_supplier", "delivery", d.id, supplier_id=supplier_id)
    enqueue([d.id])
    db.session.commit()
    return d


def deliver_by_hand(actor_id: int, delivery_id: int, code: str = "", secret: str = "", reference: str = "",
                    confirmed: bool = False, ip: str | None = None) -> Delivery:
    """Ops hands the unit over themselves: a code (or link) typed in for card and link SKUs, or the
    reference of a top-up done by hand. Audited; the code itself is stored encrypted, never logged."""
    d = _failed(delivery_id)
    is_topup = d.sku.type == SkuType.direct_topup
    code, secret, reference = (code or "").strip(), (secret or "").strip(), (reference or "").strip()
    if is_topup and not reference:
        raise ValidationError(_l("Enter the reference of the top-up you made by hand."))
    if not is_topup and not 4 <= len(code) <= 500:
        raise ValidationError(_l("Enter the code (4 to 500 characters)."))
    if d.sku.type == SkuType.link and not code.startswith(("https://", "http://")):
        raise ValidationError(_l("A redemption link must start with http:// or https://."))
    _ask_upstream(d, confirmed)
    order, d = _lock(delivery_id)
    now = utcnow()
    ent = d.entitlement
    if is_topup:
        transition(ent, E.used, allowed=ENTITLEMENT_TRANSITIONS, actor_id=actor_id, reason="topped up by hand",
                   used_at=now)
    else:
        sealer = vault.Sealer()
        row = Code(**sealing.sealed(sealer, sealing.next_ids(1)[0], d.sku_id, code, secret or None),
                   status=CodeStatus.delivered, order_id=d.order_id, delivered_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            db.session.rollback()
            raise ValidationError(_l("This code is already in stock or was delivered before.")) from None
        transition(ent, E.unused, allowed=ENTITLEMENT_TRANSITIONS, actor_id=actor_id, reason="code typed by ops",
                   code_id=row.id)
    transition(d, D.delivered, allowed=DELIVERY_TRANSITIONS, actor_id=actor_id, reason="delivered by hand",
               delivered_at=now, delivered_by=actor_id, last_error=None)
    recognise(d)
    _log(d, actor_id, "manual", "manual", reference[:200])
    audit(actor_id, "delivery.manual", "delivery", d.id, ip=ip, kind="topup" if is_topup else "code",
          reference=reference[:200] or None)
    settle_order(order)
    db.session.commit()
    return d


def refund(actor_id: int, delivery_id: int, reason: str = "", confirmed: bool = False,
           ip: str | None = None) -> Delivery:
    """Give this unit's share of the order back: the ledger moves it from prepayments to refunds payable,
    and a refund for exactly that amount goes to the payment gateway (through its outbox); a reseller's or
    an enterprise's unit goes back to its prepaid balance instead."""
    d = _failed(delivery_id)
    _ask_upstream(d, confirmed)
    order, d = _lock(delivery_id)
    transition(d, D.refunded, allowed=DELIVERY_TRANSITIONS, actor_id=actor_id, reason="refunded by ops")
    transition(d.entitlement, E.refunded, allowed=ENTITLEMENT_TRANSITIONS, actor_id=actor_id,
               reason="delivery refunded")
    if not signals.taken(signals.unit_refunded.send(order, delivery=d, actor_id=actor_id)):
        refunds.refund_unit(order, d, actor_id=actor_id, reason=(reason or "undeliverable")[:200])
    _log(d, actor_id, "refund", "refunded", (reason or "")[:200])
    audit(actor_id, "delivery.refund", "delivery", d.id, ip=ip, amount_fen=d.amount_fen)
    settle_order(order)
    db.session.commit()
    return d


def _log(d: Delivery, actor_id: int, action: str, outcome: str, detail: str) -> None:
    db.session.add(DeliveryAttempt(delivery_id=d.id, supplier_id=d.supplier_id, out_order_no=d.out_order_no,
                                   action=action, outcome=outcome, detail=detail, actor_id=actor_id))
