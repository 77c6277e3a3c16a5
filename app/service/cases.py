"""After-sales cases (售后工单): open one on a delivered unit, work it, resolve it exactly once.

A case resolves by replacing the unit (a new code from stock, or a new delivery through the engine; the old code
goes void), refunding it (all or part, the way it was paid), or rejecting it with a reason. Every resolution is a
compare-and-set transition of the case row, done first in the resolving transaction: of two staff resolving the
same case at once one wins, the other gets Conflict and none of its writes stay. See docs/service.md."""

import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.accounts.models import Role, User
from app.catalog.models import SkuSource, SkuType
from app.channels import files, wholesale
from app.core.audit import audit
from app.core.errors import Conflict, DomainError, NotFound, TransitionError, ValidationError, raise_all
from app.core.ids import utcnow
from app.core.money import yuan
from app.core.states import transition
from app.extensions import db
from app.fulfilment import after_sales
from app.fulfilment.models import (
    DELIVERY_TRANSITIONS,
    ENTITLEMENT_TRANSITIONS,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Entitlement,
    EntitlementStatus,
)
from app.fulfilment.services import _attach_code, claim_shared, enqueue
from app.inventory import services as inventory
from app.inventory.models import Code, CodeStatus
from app.notifications import services as notifications
from app.notifications.links import link_to
from app.orders.models import Order
from app.service import uploads
from app.service.models import (
    CASE_TRANSITIONS,
    OPEN,
    Case,
    CaseAttachment,
    CaseEvent,
    CaseReason,
    CaseSource,
    CaseStatus,
)
from app.suppliers import services as suppliers
from app.suppliers.models import Supplier

D, E, S = DeliveryStatus, EntitlementStatus, CaseStatus
MESSAGE_MAX = 1000
NOTE_MAX = 500
#: A replaced unit is its owner's to use again: a used or expired benefit comes back as unused (only here).
REPLACE_ENTITLEMENT = {E.unused: frozenset({E.unused, E.pending}), E.used: frozenset({E.unused, E.pending}),
                       E.expired: frozenset({E.unused, E.pending})}
#: A delivered unit delivered again through the engine (a supplier SKU): back into the queue, only here.
REDELIVER = {D.delivered: frozenset({D.queued})}


# ---- opening ------------------------------------------------------------------------------------------------

def open_case(order_id: int, entitlement_id: int | None, *, reason: str, message: str, opened_by: User | None,
              source: str = "buyer", attachment=None, key: str | None = None, ip: str | None = None,
              code_id: int | None = None) -> Case:
    """Open a case about one unit of an order (or the order as a whole when entitlement_id is None) and commit.

    `source` "buyer": opened_by must own the unit, else NotFound. `key`: the same key returns the case it opened.
    `attachment`: an uploaded screenshot (a werkzeug FileStorage), checked by its content before anything is
    written. One open case per unit: a second one raises Conflict naming the first. `code_id`: the case is about
    that code of a reseller's stocked order (which has no units; entitlement_id is then None), one open case per
    code likewise."""
    if key:
        existing = db.session.scalars(sa.select(Case).where(Case.key == key)).first()
        if existing is not None:
            return existing
    message = (message or "").strip()
    errors = []
    if reason not in CaseReason.__members__:
        errors.append(ValidationError(_l("Choose what is wrong."), field="reason"))
    if len(message) > MESSAGE_MAX:
        errors.append(ValidationError(_l("Describe the problem in at most %(n)s characters.", n=MESSAGE_MAX),
                                      field="message"))
    if source not in CaseSource.__members__:
        errors.append(ValidationError(_l("Unknown case source."), field="source"))
    order = db.session.get(Order, order_id)
    ent = db.session.get(Entitlement, entitlement_id) if entitlement_id is not None else None
    if order is None or (entitlement_id is not None and (ent is None or ent.order_id != order.id)):
        raise NotFound(_l("Benefit not found."))
    if source == CaseSource.buyer and (opened_by is None or ent is None or ent.owner_id != opened_by.id):
        raise NotFound(_l("Benefit not found."))
    if code_id is not None and (ent is not None or _order_code_status(order.id, code_id) is None
                                or _has_units(order.id)):  # a unit's code is reported through its unit
        raise NotFound(_l("Code not found."))
    if code_id is not None and _order_code_status(order.id, code_id) != CodeStatus.delivered:
        errors.append(ValidationError(_l("This code was refunded or replaced: there is nothing to report."),
                                      field="code"))
    if ent is not None and ent.status in (E.refunded, E.reclaimed):
        errors.append(ValidationError(_l("This benefit was refunded or taken back: there is nothing to report.")))
    raise_all(errors)
    image = uploads.check(attachment) if attachment is not None else None
    if ent is not None:
        _no_open_case(ent.id)
    if code_id is not None:
        _no_open_code_case(code_id)
    now = utcnow()
    case = Case(case_no=f"CS{now:%y%m%d}{secrets.token_hex(3).upper()}", order_id=order.id,
                entitlement_id=ent.id if ent else None, open_entitlement_id=ent.id if ent else None,
                code_id=code_id, open_code_id=code_id,
                owner_id=ent.owner_id if ent else order.buyer_id, reseller_id=order.reseller_id, source=source,
                reason=reason, message=message, status=S.open, opened_by=opened_by.id if opened_by else None,
                due_at=now + timedelta(hours=current_app.config["SERVICE_CASE_SLA_HOURS"]), key=key or None, created_at=now,
                resolution_note="")
    try:
        with db.session.begin_nested():
            db.session.add(case)
    except IntegrityError:  # opened meanwhile: by the same key, or another case on the unit
        db.session.rollback()
        if key:
            existing = db.session.scalars(sa.select(Case).where(Case.key == key)).first()
            if existing is not None:
                return existing
        if ent is not None:
            _no_open_case(ent.id)
        if code_id is not None:
            _no_open_code_case(code_id)
        raise
    _event(case, "opened", opened_by, message)
    if image is not None:
        db.session.add(uploads.store(case.id, image, opened_by.id if opened_by else None))
    _tell_buyer(case, "case_opened")
    audit(opened_by.id if opened_by else None, "case.open", "case", case.id, ip=ip, reason=reason, source=source)
    db.session.commit()
    return case


def _no_open_case(ent_id: int) -> None:
    other = db.session.scalar(sa.select(Case.case_no).where(Case.open_entitlement_id == ent_id))
    if other is not None:
        raise Conflict(_l("This benefit already has an open case (%(case_no)s).", case_no=other),
                       code="CASE_ALREADY_OPEN")


def _no_open_code_case(code_id: int) -> None:
    other = db.session.scalar(sa.select(Case.case_no).where(Case.open_code_id == code_id))
    if other is not None:
        raise Conflict(_l("This code already has an open case (%(case_no)s).", case_no=other),
                       code="CASE_ALREADY_OPEN")


def _order_code_status(order_id: int, code_id: int) -> str | None:
    """The status of a code issued to the order (None when the order does not hold it)."""
    return db.session.scalar(sa.select(Code.status).where(Code.id == code_id, Code.order_id == order_id))


def _has_units(order_id: int) -> bool:
    return db.session.scalar(sa.select(Entitlement.id).where(Entitlement.order_id == order_id).limit(1)) is not None


def open_code_case_of(code_id: int) -> Case | None:
    return db.session.scalars(sa.select(Case).where(Case.open_code_id == code_id)).first()


# ---- reading --------------------------------------------------------------------------------------------------

def get_for_owner(owner: User, case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None or case.owner_id != owner.id:
        raise NotFound(_l("Case not found."))
    return case


def get(case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound(_l("Case not found."))
    return case


def list_for_owner(owner: User) -> list[Case]:
    return list(db.session.scalars(sa.select(Case).where(Case.owner_id == owner.id).order_by(Case.id.desc())))


def open_case_of(ent_id: int) -> Case | None:
    return db.session.scalars(sa.select(Case).where(Case.open_entitlement_id == ent_id)).first()


def timeline(case: Case, *, staff: bool) -> list[CaseEvent]:
    return [e for e in case.events if staff or not e.internal]


FILTERS = ("open", "overdue", "escalated", "mine", "resolved", "all")


def staff_list(actor: User, view: str = "open", page: int = 1, per_page: int = 50):
    """The service console's case list: open (default), overdue (open past due_at), escalated, mine (assigned to
    the actor and still open), resolved, all. Oldest due first for open ones."""
    q = sa.select(Case)
    if view == "overdue":
        q = q.where(Case.status.in_(OPEN), Case.due_at < utcnow())
    elif view == "escalated":
        q = q.where(Case.status.in_(OPEN), Case.escalated.is_(True))
    elif view == "mine":
        q = q.where(Case.status.in_(OPEN), Case.assignee_id == actor.id)
    elif view == "resolved":
        q = q.where(Case.status.not_in(OPEN))
    elif view != "all":
        q = q.where(Case.status.in_(OPEN))
    q = q.order_by(Case.due_at, Case.id) if view not in ("resolved", "all") else q.order_by(Case.id.desc())
    return db.paginate(q, page=page, per_page=per_page, error_out=False)


def deliveries(case: Case) -> list[tuple[Delivery, list[DeliveryAttempt]]]:
    """The delivery history staff read on a case page (attempts never hold a code)."""
    q = sa.select(Delivery).where(Delivery.order_id == case.order_id)
    if case.entitlement_id is not None:
        q = q.where(Delivery.entitlement_id == case.entitlement_id)
    out = []
    for d in db.session.scalars(q.order_by(Delivery.id)):
        attempts = list(db.session.scalars(sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == d.id)
                                           .order_by(DeliveryAttempt.id)))
        out.append((d, attempts))
    return out


# ---- working --------------------------------------------------------------------------------------------------

def take(case_id: int, actor: User) -> Case:
    """A staff member takes the case (open → in_progress, assigned to them); taking an in-progress case only
    reassigns it."""
    case = _lock(case_id)
    if case.status == S.open:
        transition(case, S.in_progress, allowed=CASE_TRANSITIONS, actor_id=actor.id, reason="taken",
                   assignee_id=actor.id)
    elif case.status == S.in_progress:
        case.assignee_id = actor.id
    else:
        raise Conflict(_l("This case is already resolved."), code="CASE_RESOLVED")
    _event(case, "taken", actor, "", internal=True)
    db.session.commit()
    return case


def add_note(case_id: int, actor: User, body: str, *, internal: bool = True) -> CaseEvent:
    body = (body or "").strip()
    if not body or len(body) > NOTE_MAX:
        raise ValidationError(_l("Write a note of 1 to %(n)s characters.", n=NOTE_MAX), field="body")
    case = get(case_id)
    ev = _event(case, "note", actor, body, internal=internal)
    db.session.commit()
    return ev


def ask_supplier(case_id: int, actor: User) -> str:
    """Ask the supplier that delivered the unit what it knows of its last order (the exception queue's query):
    the answer is written on the timeline for staff only. Returns the verdict."""
    case = get(case_id)
    d = _delivery(case)
    if d is None or d.supplier_id is None or d.out_order_no is None:
        raise ValidationError(_l("No supplier was involved in this unit's delivery."))
    supplier = db.session.get(Supplier, d.supplier_id)
    out_order_no = d.out_order_no
    db.session.rollback()  # no transaction across the network call
    outcome = suppliers.adapter_for(supplier).query(out_order_no)
    case = get(case_id)
    _event(case, "supplier_query", actor, f"{supplier.name} {out_order_no}: {outcome.verdict} {outcome.detail}"[:1000],
           internal=True)
    audit(actor.id, "case.ask_supplier", "case", case.id, verdict=str(outcome.verdict))
    db.session.commit()
    return str(outcome.verdict)


# ---- resolving ------------------------------------------------------------------------------------------------

def replace_unit(case_id: int, actor: User | None, *, ip=None) -> Case:
    """Give the unit a new code from stock (the old one goes void), or, when the SKU is delivered by a supplier
    (or stock is out and a supplier is mapped), deliver it again through the engine under a new out_order_no.
    Commits. Raises ValidationError when there is neither stock nor a supplier, Conflict when resolved already."""
    case = _resolve(case_id, S.replaced, actor, "replaced")
    if case.code_id is not None:
        return _replace_code(case, actor, ip=ip)
    ent = _unit(case)
    order = db.session.get(Order, case.order_id, with_for_update=True)
    d = _delivery(case, lock=True)
    sku = ent.sku
    if ent.status not in REPLACE_ENTITLEMENT or (d is not None and d.status != D.delivered):
        db.session.rollback()
        raise ValidationError(_l("Only a delivered unit can be replaced."))
    old_code_id = ent.code_id
    actor_id = actor.id if actor else None
    new_code_id = None
    if sku.type != SkuType.direct_topup and sku.source in (SkuSource.stock, SkuSource.shared):
        new_code_id = _code_from_stock(ent, order)
    if new_code_id is None:
        if d is None or not suppliers.mappings_for(sku.id):
            db.session.rollback()
            raise ValidationError(_l("No code of this product is in stock and no supplier delivers it: it cannot "
                                     "be replaced now. Refund it, or import codes first."), code="NO_STOCK")
        _redeliver(case, ent, d, actor_id)
        body = _l("A new delivery is on its way.")
    else:
        valid = ent.valid_until
        code = db.session.get(Code, new_code_id)
        transition(ent, E.unused, allowed=REPLACE_ENTITLEMENT, actor_id=actor_id, reason=f"case {case.case_no}",
                   used_at=None, reveal_count=0,
                   valid_until=min(valid, code.expires_at) if code.expires_at and valid else valid)
        if d is not None:
            db.session.add(DeliveryAttempt(delivery_id=d.id, supplier_id=None, out_order_no=None, action="replaced",
                                           outcome="delivered", detail=f"case {case.case_no}", actor_id=actor_id))
        body = _l("A new code is in your benefit center.")
    if old_code_id is not None:
        _void(old_code_id)
    _event(case, "replaced", actor, str(body))
    _tell_buyer(case, "case_replaced")
    audit(actor_id, "case.replace", "case", case.id, ip=ip, entitlement_id=ent.id, old_code_id=old_code_id,
          new_code_id=new_code_id)
    db.session.commit()
    return case


def _code_from_stock(ent: Entitlement, order: Order) -> int | None:
    sku = ent.sku
    if sku.source == SkuSource.shared:
        claimed = claim_shared(sku.id)
        if claimed is None:
            return None
        _attach_code(ent, claimed[0], slot=claimed[1])
        return claimed[0].id
    ids = inventory.claim_delivered(sku.id, order.id, 1)
    if not ids:
        return None
    code = db.session.get(Code, ids[0])
    ent.code_id, ent.code_use = code.id, 1
    return code.id


def _redeliver(case: Case, ent: Entitlement, d: Delivery, actor_id: int | None) -> None:
    """The same delivery row goes back into the engine's queue with a fresh out_order_no (the supplier is
    idempotent by it); its revenue, already recognised, is not booked again (the ledger key is the delivery's)."""
    transition(ent, E.pending, allowed=REPLACE_ENTITLEMENT, actor_id=actor_id, reason=f"case {case.case_no}",
               code_id=None, code_use=1, used_at=None, reveal_count=0)
    seq = d.upstream_seq + 1
    transition(d, D.queued, allowed=REDELIVER, actor_id=actor_id, reason=f"case {case.case_no}",
               supplier_id=None, supplier_product_id=None, upstream_seq=seq,
               out_order_no=f"{d.key}-c{case.id}", upstream_order_no=None, attempts=0, next_attempt_at=utcnow(),
               lease_until=None, failed_at=None, delivered_at=None, last_error=None)
    db.session.add(DeliveryAttempt(delivery_id=d.id, supplier_id=None, out_order_no=d.out_order_no,
                                   action="redeliver", outcome="queued", detail=f"case {case.case_no}",
                                   actor_id=actor_id))
    enqueue([d.id])


def _void(code_id: int) -> None:
    """The old code can never be issued again. A shared (loop) code other holders still use is left alone."""
    db.session.execute(sa.update(Code).where(Code.id == code_id, Code.max_uses == 1)
                       .values(status=CodeStatus.void).execution_options(synchronize_session=False))


def refund_unit(case_id: int, actor: User | None, *, amount_fen: int | None = None, reason: str = "",
                ip=None) -> Case:
    """Give money back for the unit: all that is left of it (None, or that amount: the unit is refunded and its
    code goes void) or part of it (a compensation: the unit stays the buyer's). Commits."""
    reason = (reason or "").strip()
    if len(reason) > NOTE_MAX:
        raise ValidationError(_l("Write a reason of at most %(n)s characters.", n=NOTE_MAX), field="reason")
    case = get(case_id)
    if case.code_id is not None:
        return _refund_code(case, actor, amount_fen=amount_fen, reason=reason, ip=ip)
    d = _delivery(case)
    if d is None or case.entitlement_id is None:
        raise ValidationError(_l("This case is not about one unit: there is nothing to refund."))
    if d.extra or d.amount_fen <= 0:
        raise ValidationError(_l("This unit was free: there is nothing to refund."))
    left = after_sales.refundable(d)
    if left <= 0:
        raise ValidationError(_l("Only a delivered unit can be refunded here."))
    amount_fen = _amount(amount_fen, left)
    case = _resolve(case_id, S.refunded, actor, "refunded", resolution_note=reason, refund_fen=amount_fen)
    order = db.session.get(Order, case.order_id, with_for_update=True, populate_existing=True)
    d = db.session.get(Delivery, d.id, with_for_update=True, populate_existing=True)
    if d.status != D.delivered:
        db.session.rollback()
        raise ValidationError(_l("Only a delivered unit can be refunded here."))
    actor_id = actor.id if actor else None
    full = amount_fen == after_sales.refundable(d)
    _refund_money(case, order, d, amount_fen, actor_id, reason, ip)
    if full:
        ent = d.entitlement
        transition(d, D.refunded, allowed=DELIVERY_TRANSITIONS, actor_id=actor_id, reason=f"case {case.case_no}")
        transition(ent, E.refunded, allowed=ENTITLEMENT_TRANSITIONS, actor_id=actor_id,
                   reason=f"case {case.case_no}")
        if ent.code_id is not None:
            _void(ent.code_id)
    _event(case, "refunded", actor, f"{yuan(amount_fen)} {reason}".strip())
    _tell_buyer(case, "case_refunded", amount=yuan(amount_fen))
    audit(actor_id, "case.refund", "case", case.id, ip=ip, amount_fen=amount_fen, full=full)
    db.session.commit()
    return case


def _amount(amount_fen: int | None, left: int) -> int:
    """The amount to refund of a unit with `left` fen still refundable (None: all of it), checked."""
    if amount_fen is None:
        amount_fen = left
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or not 0 < amount_fen <= left:
        raise ValidationError(_l("Refund between ¥0.01 and %(max)s.", max=yuan(left)), field="amount")
    return amount_fen


# ---- a code of a reseller's stocked order (no unit rows: Case.code_id) ----------------------------------------

def _replace_code(case: Case, actor: User | None, *, ip=None) -> Case:
    """replace_unit() for a code case (the case row is resolved already, uncommitted): a new code of the SKU from
    where the order's codes come (the reseller's pool, or the shared stock) is delivered to the order, the old
    one goes void, and the order's stored files are written again on the next download."""
    order = db.session.get(Order, case.order_id, with_for_update=True, populate_existing=True)
    if _order_code_status(order.id, case.code_id) not in (CodeStatus.delivered, CodeStatus.void):
        db.session.rollback()
        raise ValidationError(_l("Only a delivered unit can be replaced."))
    new_code_id = wholesale.claim_replacement(order)
    if new_code_id is None:
        db.session.rollback()
        raise ValidationError(_l("No code of this product is in stock and no supplier delivers it: it cannot "
                                 "be replaced now. Refund it, or import codes first."), code="NO_STOCK")
    _void(case.code_id)
    files.forget(order)
    actor_id = actor.id if actor else None
    _event(case, "replaced", actor, str(_l("A new code was issued to the order: download its codes again.")))
    _tell_buyer(case, "case_replaced")
    audit(actor_id, "case.replace", "case", case.id, ip=ip, order_id=order.id, old_code_id=case.code_id,
          new_code_id=new_code_id)
    db.session.commit()
    return case


def _refund_code(case: Case, actor: User | None, *, amount_fen: int | None, reason: str, ip=None) -> Case:
    """refund_unit() for a code case: after_sales.refund_code (the order's unit price at most, back to the
    reseller's balance, keyed by the case); refunded in full, the code goes void."""
    order = db.session.get(Order, case.order_id)
    if order.unit_price_fen <= 0:
        raise ValidationError(_l("This unit was free: there is nothing to refund."))
    left = order.unit_price_fen - after_sales.refunded_of(code_id=case.code_id)
    if left <= 0 or _order_code_status(order.id, case.code_id) not in (CodeStatus.delivered, CodeStatus.void):
        raise ValidationError(_l("Only a delivered unit can be refunded here."))
    amount_fen = _amount(amount_fen, left)
    case = _resolve(case.id, S.refunded, actor, "refunded", resolution_note=reason, refund_fen=amount_fen)
    actor_id = actor.id if actor else None
    try:
        after_sales.refund_code(order, case.code_id, amount_fen=amount_fen, actor_id=actor_id,
                                reason=(reason or f"case {case.case_no}")[:200], key=f"case:{case.id}", ip=ip)
    except DomainError:
        db.session.rollback()
        raise
    full = amount_fen == left
    if full:
        _void(case.code_id)
        files.forget(order)
    _event(case, "refunded", actor, f"{yuan(amount_fen)} {reason}".strip())
    _tell_buyer(case, "case_refunded", amount=yuan(amount_fen))
    audit(actor_id, "case.refund", "case", case.id, ip=ip, amount_fen=amount_fen, full=full, code_id=case.code_id)
    db.session.commit()
    return case


def _refund_money(case: Case, order: Order, d: Delivery, amount_fen: int, actor_id: int | None, reason: str,
                  ip) -> None:
    """fulfilment.after_sales: the refunded part leaves revenue (a sales return) and goes back the way the order
    was paid (retail: wallet part first, then the gateway; a reseller's or an enterprise's prepaid balance),
    keyed by the case so it happens once."""
    after_sales.refund_delivered(order, d, amount_fen=amount_fen, actor_id=actor_id,
                                 reason=(reason or f"case {case.case_no}")[:200], key=f"case:{case.id}", ip=ip)


def reject_case(case_id: int, actor: User, *, reason: str, ip=None) -> Case:
    reason = (reason or "").strip()
    if not reason or len(reason) > NOTE_MAX:
        raise ValidationError(_l("Give the buyer a reason of 1 to %(n)s characters.", n=NOTE_MAX), field="reason")
    case = _resolve(case_id, S.rejected, actor, "rejected", resolution_note=reason)
    _event(case, "rejected", actor, reason)
    _tell_buyer(case, "case_rejected", reason=reason)
    audit(actor.id, "case.reject", "case", case.id, ip=ip)
    db.session.commit()
    return case


def _lock(case_id: int) -> Case:
    case = db.session.get(Case, case_id, with_for_update=True, populate_existing=True)
    if case is None:
        raise NotFound(_l("Case not found."))
    return case


def _resolve(case_id: int, to: str, actor: User | None, why: str, **values) -> Case:
    """The compare-and-set that makes a resolution happen once; everything else follows in its transaction."""
    case = get(case_id)
    try:
        transition(case, to, allowed=CASE_TRANSITIONS, actor_id=actor.id if actor else None, reason=why,
                   resolved_by=actor.id if actor else None, resolved_at=utcnow(), open_entitlement_id=None,
                   open_code_id=None, **values)
    except TransitionError:
        db.session.rollback()
        raise Conflict(_l("This case is already resolved."), code="CASE_RESOLVED") from None
    return case


def _unit(case: Case) -> Entitlement:
    if case.entitlement_id is None:
        db.session.rollback()
        raise ValidationError(_l("This case is not about one unit: there is nothing to replace."))
    return db.session.get(Entitlement, case.entitlement_id, with_for_update=True, populate_existing=True)


def _delivery(case: Case, *, lock: bool = False) -> Delivery | None:
    """The unit's delivery; `lock`: locked and read afresh (one statement)."""
    if case.entitlement_id is None:
        return None
    q = sa.select(Delivery).where(Delivery.entitlement_id == case.entitlement_id)
    if lock:
        q = q.with_for_update().execution_options(populate_existing=True)
    return db.session.scalars(q).first()


# ---- SLA -------------------------------------------------------------------------------------------------------

def escalate_overdue(limit: int = 500) -> int:
    """The periodic job: every open case past due_at is escalated once (flag, timeline line, the buyer and the
    service staff told). Compare-and-set on the flag, so two runs at once escalate each case once."""
    now = utcnow()
    ids = list(db.session.scalars(sa.select(Case.id).where(Case.status.in_(OPEN), Case.escalated.is_(False),
                                                           Case.due_at < now).order_by(Case.due_at).limit(limit)))
    db.session.commit()
    done = 0
    staff = None
    for case_id in ids:
        won = db.session.execute(sa.update(Case).where(Case.id == case_id, Case.escalated.is_(False),
                                                       Case.status.in_(OPEN))
                                 .values(escalated=True, escalated_at=now)
                                 .execution_options(synchronize_session=False)).rowcount
        if won != 1:
            db.session.rollback()
            continue
        case = db.session.get(Case, case_id, populate_existing=True)
        _event(case, "escalated", None, "")
        _tell_buyer(case, "case_escalated")
        if staff is None:
            staff = _service_staff()
        params = {"case_no": case.case_no, "sku_name": _sku_name(case),
                  "hours": f"{current_app.config['SERVICE_CASE_SLA_HOURS']:g}"}
        for user_id in staff:
            notifications.notify(user_id, "case_overdue", params, link=link_to("service.case", case_id=case.id),
                                 dedupe_key=f"case:{case.id}:overdue:{user_id}")
        audit(None, "case.escalate", "case", case.id)
        db.session.commit()
        done += 1
    return done


def _service_staff() -> list[int]:
    return list(db.session.scalars(sa.select(User.id).where(User.role.in_((Role.service, Role.ops)),
                                                            User.active.is_(True))))


# ---- helpers ---------------------------------------------------------------------------------------------------

def _event(case: Case, kind: str, actor: User | None, body: str, internal: bool = False) -> CaseEvent:
    ev = CaseEvent(case_id=case.id, kind=kind, actor_id=actor.id if actor else None, body=body[:1000],
                   internal=internal)
    db.session.add(ev)
    return ev


def _sku_name(case: Case) -> str:
    if case.entitlement_id is not None:
        ent = db.session.get(Entitlement, case.entitlement_id)
        return ent.sku.name
    return db.session.get(Order, case.order_id).sku.name


def _tell_buyer(case: Case, kind: str, **params) -> None:
    if case.owner_id is None:
        return
    notifications.notify(case.owner_id, kind, {"case_no": case.case_no, "sku_name": _sku_name(case), **params},
                         link=link_to("consumer.case", case_id=case.id), dedupe_key=f"case:{case.id}:{kind}")


def attachment_for(case: Case, attachment_id: int) -> CaseAttachment:
    att = db.session.get(CaseAttachment, attachment_id)
    if att is None or att.case_id != case.id:
        raise NotFound(_l("File not found."))
    return att

