"""Delivery of paid orders into entitlements, and what owners do with their benefits."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from rq.registry import ScheduledJobRegistry

from app.accounts.models import User
from app.catalog import account_formats as accounts
from app.catalog import planning
from app.catalog.models import Brand, Product, Sku, SkuSource, SkuType
from app.core import metrics, vault
from app.core.audit import audit
from app.core.errors import NotFound, TransitionError, ValidationError
from app.core.hooks import after_commit
from app.core.ids import utcnow
from app.core.pages import MAX_PER_PAGE, KeysetPage, decode, encode
from app.core.states import transition
from app.extensions import db
from app.fulfilment import signals
from app.fulfilment.models import (
    DELIVERY_TRANSITIONS,
    ENTITLEMENT_TRANSITIONS,
    IN_FLIGHT,
    Delivery,
    DeliveryStatus,
    Entitlement,
    EntitlementStatus,
)
from app.inventory import sealing
from app.inventory import services as inventory
from app.inventory.models import Code, CodeStatus
from app.ledger import services as ledger
from app.orders.models import ORDER_TRANSITIONS, Order, OrderStatus
from app.orders.services import create_retail_order, under_review
from app.queues import queue
from app.risk import engine as risk
from app.risk.models import Point
from app.suppliers.models import Supplier

D, E = DeliveryStatus, EntitlementStatus


#: A delivery job's id: `delivery-<delivery id>-<random hex>`. Unique, so a new job never replaces one that is
#: waiting or running; and it names its delivery, so the sweep can tell which deliveries have a job waiting.
JOB_ID = re.compile(r"^delivery-(\d+)-[0-9a-f]+$")


def job_id(delivery_id: int) -> str:
    return f"delivery-{delivery_id}-{uuid.uuid4().hex[:16]}"


def enqueue(delivery_ids: list[int], delay: float = 0) -> None:
    """Queue delivery jobs once the transaction that made them due commits. The delivery rows are the
    outbox: if Redis is down now, the sweep finds them later."""
    if not delivery_ids:
        return
    ids = list(delivery_ids)
    after_commit(db.session(), lambda: send(ids, delay))


def send(delivery_ids: list[int], delay: float = 0) -> None:
    """Put one delivery job per id on the fulfilment queue now (`delay` seconds: in RQ's scheduled registry)."""
    q = queue("fulfilment")
    for delivery_id in delivery_ids:
        if delay > 0:
            q.enqueue_in(timedelta(seconds=delay), "jobs.fulfilment.deliver", delivery_id,
                         job_id=job_id(delivery_id))
        else:
            q.enqueue("jobs.fulfilment.deliver", delivery_id, job_id=job_id(delivery_id))


def waiting_jobs(grace: timedelta) -> set[int]:
    """The deliveries whose job is waiting in Redis: on the fulfilment queue, or in its scheduled registry and
    due less than `grace` ago. A scheduled job overdue by more than that is not counted: RQ's scheduler runs in
    a worker, and when that worker is killed its lock keeps the others from taking over for a minute or more.
    A job a worker has taken is not counted either: the delivery's lease covers it while the worker lives,
    and the sweep picks the delivery up again if the worker dies."""
    q = queue("fulfilment")
    scheduled = ScheduledJobRegistry(queue=q)
    # RQ scores a scheduled job by its due time in whole seconds (UTC epoch).
    since = int(datetime.now(UTC).timestamp() - grace.total_seconds())
    # One MULTI, so a job the scheduler moves from the registry to the queue in between is seen in one of them.
    with q.connection.pipeline(transaction=True) as pipe:
        pipe.zrangebyscore(scheduled.key, since, "+inf")
        pipe.lrange(q.key, 0, -1)
        due_later, queued = pipe.execute()
    ids = set()
    for raw in (*due_later, *queued):
        m = JOB_ID.match(raw.decode() if isinstance(raw, bytes) else raw)
        if m:
            ids.add(int(m.group(1)))
    return ids


def begin(order: Order, reviewed: bool = False) -> list[int]:
    """Start a paid order the way its payment starts it: a receiver of `signals.hold` may keep it waiting (a
    group buy until its group fills), and starts it itself when the wait is over. Approving a held order's
    review begins it this way too. `reviewed`: the caller knows no review holds it."""
    if any(held for _, held in signals.hold.send(order)):
        return []
    return start(order, reviewed=reviewed)


def start(order: Order, reviewed: bool = False) -> list[int]:
    """Turn a just-paid order into entitlements and delivery rows, in the caller's transaction.

    Reserved stock codes and shared-code slots are delivered at once; supplier units are queued for the
    worker (enqueued after commit). Returns the ids of the queued deliveries. An order risk control holds
    for review is not started (approving it starts it); `reviewed`: the caller knows none does.
    """
    if not reviewed and under_review(order):
        return []
    now = utcnow()
    codes: dict[int, list[Code]] = {}
    for code in inventory.mark_delivered(order.id):
        codes.setdefault(code.sku_id, []).append(code)
    given = order.accounts or {}
    queued: list[Delivery] = []
    made: list[Delivery] = []
    plan = planning.units(order.sku, order.quantity, order.unit_price_fen, order.discount_fen)
    paid_units = len(plan)
    plan += [planning.Unit(sku, None, 0, value) for _, extra in signals.extra_units.send(order)
             for sku, value in extra or ()]
    for n, unit in enumerate(plan, 1):
        sku = unit.sku
        ent = Entitlement(owner_id=order.buyer_id, order_id=order.id, sku_id=sku.id,
                          bundle_sku_id=unit.bundle.id if unit.bundle else None, status=E.pending,
                          valid_until=now + timedelta(days=sku.validity_days))
        d = Delivery(key=f"{order.order_no}-{n:03d}", order_id=order.id, entitlement=ent, sku_id=sku.id,
                     amount_fen=unit.amount_fen, discount_fen=unit.discount_fen, status=D.queued,
                     next_attempt_at=now, extra=n > paid_units)
        db.session.add_all([ent, d])
        made.append(d)
        if sku.type == SkuType.direct_topup:
            account = given.get(sku.account_format or "")
            if account:
                d.account = ent.account = account
                queued.append(d)
            else:
                d.status, ent.status = D.awaiting_account, E.unused
        elif sku.source == SkuSource.stock:
            pool = codes.get(sku.id) or []
            if pool:
                _attach_code(ent, pool.pop(0))
                d.status, d.delivered_at, ent.status = D.delivered, now, E.unused
            else:  # e.g. a bundle edited between order and payment: ops settles it, the payment stands
                d.status, d.failed_at, d.next_attempt_at = D.failed, now, None
                d.last_error = "no code was reserved for this unit (the product changed after the order)"
        elif sku.source == SkuSource.shared:
            claimed = claim_shared(sku.id)
            if claimed is None:
                d.status, d.failed_at, d.next_attempt_at = D.failed, now, None
                d.last_error = "no shared code has a free slot left"
            else:
                _attach_code(ent, claimed[0], slot=claimed[1])
                d.status, d.delivered_at, ent.status = D.delivered, now, E.unused
        else:
            queued.append(d)
    db.session.flush()
    for d in made:  # the rows just written: no need to read them back
        if d.status == D.delivered:
            recognise(d)
    for d in queued:
        d.out_order_no = d.key
    counts: dict[str, int] = {}
    for d in made[:paid_units]:  # the order's only units: its deliveries' keys are unique, so start runs once
        counts[d.status] = counts.get(d.status, 0) + 1
    settle_order(order, counts)
    enqueue([d.id for d in queued])
    return [d.id for d in queued]


def _attach_code(ent: Entitlement, code: Code, slot: int = 1) -> None:
    ent.code_id, ent.code_use = code.id, slot
    if code.expires_at and (ent.valid_until is None or code.expires_at < ent.valid_until):
        ent.valid_until = code.expires_at


def claim_shared(sku_id: int) -> tuple[Code, int] | None:
    """Claim one slot of a shared (loop) code: compare-and-set on its use counter, never over the limit."""
    now = utcnow()
    for _ in range(10):
        code = db.session.scalars(
            sa.select(Code).where(Code.sku_id == sku_id, Code.status == CodeStatus.available,
                                  Code.uses < Code.max_uses,
                                  sa.or_(Code.expires_at.is_(None), Code.expires_at > now))
            .order_by(Code.expires_at.is_(None), Code.expires_at, Code.id).limit(1)
        ).first()
        if code is None:
            return None
        slot = db.session.execute(
            sa.update(Code).where(Code.id == code.id, Code.uses < Code.max_uses)
            .values(uses=Code.uses + 1).returning(Code.uses).execution_options(synchronize_session=False)
        ).scalar()
        if slot is None:
            continue  # taken meanwhile: look again
        if slot >= code.max_uses:
            db.session.execute(sa.update(Code).where(Code.id == code.id)
                               .values(status=CodeStatus.delivered, delivered_at=now)
                               .execution_options(synchronize_session=False))
        return code, slot
    return None


def recognise(d: Delivery) -> None:
    """Revenue of a delivered unit (prepayment → sales), a partner's share of it when it is part of a joint
    membership, and its supplier cost when it had one.

    Revenue is booked once per unit, however often it is delivered. A supplier charges for every order it
    fulfils, so a unit delivered again (a customer-service replacement, under a new upstream_seq) books its
    cost again: the key names the seq past the first ("delivery:<id>:cost:<seq>")."""
    order_no = d.key.rsplit("-", 1)[0]
    ledger.post("revenue", revenue_postings(d), key=f"delivery:{d.id}:revenue", memo=d.key,
                ref=("order", d.order_id))
    signals.unit_delivered.send(d)
    count_outcome(d, "delivered")
    if d.cost_fen and d.supplier_id and not d.delivered_by:
        ledger.post("supplier_cost", [("6401", d.cost_fen), ("2202", -d.cost_fen)],
                    key=f"delivery:{d.id}:cost" + (f":{d.upstream_seq}" if d.upstream_seq else ""),
                    memo=order_no, ref=("supplier", d.supplier_id))


def count_outcome(d: Delivery, outcome: str) -> None:
    """The unit's outcome in the metrics (app/core/metrics.py), by its supplier's code, "stock" without one."""
    supplier = db.session.get(Supplier, d.supplier_id).code if d.supplier_id else "stock"
    metrics.count_delivery(db.session(), outcome, supplier)


def revenue_postings(d: Delivery) -> list[tuple[str, int]]:
    """A unit's prepayment becomes sales revenue at its list value, its discount shown apart in sales discounts,
    so revenue net of discounts is what the buyer paid and finance sees what marketing cost."""
    if not d.discount_fen:
        return [("2203", d.amount_fen), ("6001", -d.amount_fen)]
    return [("2203", d.amount_fen), ("6003", d.discount_fen), ("6001", -(d.amount_fen + d.discount_fen))]


def settle_order(order: Order, counts: dict[str, int] | None = None) -> None:
    """Close a paid order once none of its units is still in flight. The caller holds the order's row
    lock (or SQLite's write lock), so two deliveries finishing at once cannot both miss it.

    `counts`: units per delivery status, when the caller has just written every unit of the order (`start`);
    otherwise they are counted in SQL."""
    if order.status != OrderStatus.paid:
        return
    if counts is None:
        counts = _unit_counts(order.id)
    if not counts or any(counts.get(s) for s in IN_FLIGHT):
        return
    done = OrderStatus.refunded if set(counts) == {D.refunded} else OrderStatus.delivered
    transition(order, done, allowed=ORDER_TRANSITIONS, actor_id=None, reason="every unit settled",
               delivered_at=utcnow() if done == OrderStatus.delivered else None)
    signals.order_settled.send(order)


def _unit_counts(order_id: int) -> dict[str, int]:
    """How many of an order's paid units (not the extras given with it) are in each delivery status."""
    return dict(db.session.execute(sa.select(Delivery.status, sa.func.count())
                                   .where(Delivery.order_id == order_id, Delivery.extra.is_(False))
                                   .group_by(Delivery.status)).all())


def take_back(delivery_id: int, reason: str, actor_id: int | None = None) -> bool:
    """Withdraw a delivered extra unit (given free with its order, signals.extra_units) in the caller's
    transaction: its benefit is revoked (its code is no longer shown) and its booking reversed. Returns False
    when it is not a delivered extra (already taken back, or never delivered)."""
    d = db.session.get(Delivery, delivery_id, with_for_update=True, populate_existing=True)
    if d is None or not d.extra or d.status != D.delivered:
        return False
    ent = db.session.get(Entitlement, d.entitlement_id, with_for_update=True, populate_existing=True)
    transition(d, D.refunded, allowed=DELIVERY_TRANSITIONS, actor_id=actor_id, reason=reason)
    transition(ent, E.refunded, allowed=ENTITLEMENT_TRANSITIONS, actor_id=actor_id, reason=reason)
    ledger.post("unit_taken_back", [(acc, -amount) for acc, amount in revenue_postings(d)],
                key=f"delivery:{d.id}:taken_back", memo=d.key, ref=("order", d.order_id), actor_id=actor_id)
    return True


def state_of(order: Order, units: list[Entitlement] | None = None) -> str:
    """What the buyer sees of an order's delivery, derived from its units (a bundle's components):
    delivered, partially_delivered, failed, in_progress, refunded; "" before payment.

    `units`: every unit of the order with its delivery loaded, as `units_of(buyer, order)` gives them (each
    delivery is made with its entitlement, owned by the order's buyer, in `start`): saves counting them in SQL."""
    if units is None:
        counts = _unit_counts(order.id)
    else:
        counts = {}
        for ent in units:
            if ent.delivery is not None and not ent.delivery.extra:
                counts[ent.delivery.status] = counts.get(ent.delivery.status, 0) + 1
    if not counts:
        return ""
    done = counts.get(D.delivered, 0) + counts.get(D.awaiting_account, 0) + counts.get(D.expired, 0)
    if counts.get(D.failed):
        return "partially_delivered" if done else "failed"
    if counts.get(D.queued) or counts.get(D.accepted):
        return "partially_delivered" if done else "in_progress"
    if set(counts) == {D.refunded}:
        return "refunded"
    return "partially_delivered" if counts.get(D.refunded) else "delivered"


def availability(skus: list[Sku]) -> dict[int, int | None]:
    """Units sellable now per SKU; None means unlimited (bought from a supplier at order time)."""
    deliverables = {p.id: p for s in skus for p, _ in planning.parts(s)}
    stock = inventory.available_counts(list(deliverables))

    def of(part: Sku) -> int | None:
        if part.type == SkuType.direct_topup or part.source == SkuSource.supplier:
            return None
        return stock.get(part.id, 0)

    out: dict[int, int | None] = {}
    for s in skus:
        limits = [None if of(p) is None else of(p) // n for p, n in planning.parts(s)]
        known = [x for x in limits if x is not None]
        out[s.id] = min(known) if known else (None if limits else 0)
    return out


# --- the benefit center --------------------------------------------------------------------------------

def status_of(ent: Entitlement) -> str:
    """Shown status: an unused benefit past its validity reads as expired even before the job marks it."""
    if ent.status == E.unused and ent.valid_until and ent.valid_until < utcnow():
        return E.expired
    return ent.status


#: Benefits per "load more" step of the benefit center.
PER_PAGE = 50


def list_for_owner(owner: User, status: str | None = None, brand_id: int | None = None):
    return db.session.scalars(_of_owner(owner, status, brand_id)).all()


def page_for_owner(owner: User, status: str | None = None, brand_id: int | None = None,
                   after: str | None = None) -> KeysetPage:
    """A page of list_for_owner(): the benefits expiring first, then those that never expire; the next page by
    keyset past the last one shown (`after`, its never-expires flag, valid_until and id), not by OFFSET. One
    owner's rows come from ix_entitlements_owner (owner_id, status)."""
    per_page = max(1, min(PER_PAGE, MAX_PER_PAGE))
    q = _of_owner(owner, status, brand_id)
    key = decode(after, (int, datetime, int))
    if key is not None and key[0] is not None and key[2] is not None:
        never, valid_until, last_id = key
        if never or valid_until is None:
            q = q.where(Entitlement.valid_until.is_(None), Entitlement.id > last_id)
        else:
            q = q.where(sa.or_(Entitlement.valid_until.is_(None), Entitlement.valid_until > valid_until,
                               sa.and_(Entitlement.valid_until == valid_until, Entitlement.id > last_id)))
    rows = list(db.session.scalars(q.limit(per_page + 1)).unique())
    last = rows[per_page - 1] if len(rows) > per_page else None
    return KeysetPage(rows[:per_page], per_page,
                      next_cursor=encode((int(last.valid_until is None), last.valid_until, last.id)) if last else None)


def _of_owner(owner: User, status: str | None, brand_id: int | None) -> sa.Select:
    now = utcnow()
    q = (sa.select(Entitlement).join(Sku, Entitlement.sku_id == Sku.id).join(Product)
         .options(sa.orm.contains_eager(Entitlement.sku).joinedload(Sku.product).joinedload(Product.brand))
         .where(Entitlement.owner_id == owner.id))
    unused_valid = sa.and_(Entitlement.status == E.unused,
                           sa.or_(Entitlement.valid_until.is_(None), Entitlement.valid_until >= now))
    if status == E.unused:
        q = q.where(unused_valid)
    elif status == E.expired:
        q = q.where(sa.or_(Entitlement.status == E.expired,
                           sa.and_(Entitlement.status == E.unused, Entitlement.valid_until < now)))
    elif status in (E.used, E.pending, E.refunded):
        q = q.where(Entitlement.status == status)
    if brand_id:
        q = q.where(Product.brand_id == brand_id)
    return q.order_by(Entitlement.valid_until.is_(None), Entitlement.valid_until, Entitlement.id)


def get_for_owner(owner: User, ent_id: int) -> Entitlement:
    ent = db.session.scalars(sa.select(Entitlement).where(Entitlement.id == ent_id,
                                                          Entitlement.owner_id == owner.id)).first()
    if ent is None:
        raise NotFound(_l("Benefit not found."))
    return ent


def units_of(owner: User | None, order: Order) -> list[Entitlement]:
    """One order's units (a bundle's components) with their deliveries, for its owner; None for every unit
    of the order (a reseller's order, whose tenant the caller has checked)."""
    q = (sa.select(Entitlement).options(sa.orm.joinedload(Entitlement.delivery), sa.orm.joinedload(Entitlement.sku))
         .where(Entitlement.order_id == order.id).order_by(Entitlement.id))
    if owner is not None:
        q = q.where(Entitlement.owner_id == owner.id)
    return list(db.session.scalars(q))


def delivery_of(ent: Entitlement) -> Delivery | None:
    return db.session.scalars(sa.select(Delivery).where(Delivery.entitlement_id == ent.id)).first()


def masked(ent: Entitlement) -> str:
    code = db.session.get(Code, ent.code_id) if ent.code_id else None
    return "•••• •••• " + (code.tail if code else "")


def reveal(owner: User, ent_id: int, ip: str | None = None) -> dict:
    """Decrypt the code (or link) for its owner; every reveal is audited (the audit row never holds it)."""
    ent = get_for_owner(owner, ent_id)
    if ent.code_id is None or ent.status in (E.pending, E.refunded):
        raise ValidationError(_l("This benefit has no code to reveal."))
    risk.check(Point.code_reveal, owner, sku_id=ent.sku_id)  # refuses (a frozen owner too) before anything is counted
    code = db.session.get(Code, ent.code_id)
    # Compare-and-set: the count goes up only while the entitlement still holds this code, so a reveal racing
    # an employer's reclaim (which puts the code back in stock) either counts first, and the reclaim keeps
    # the benefit, or finds the code gone and shows nothing.
    counted = db.session.execute(
        sa.update(Entitlement).where(Entitlement.id == ent.id, Entitlement.code_id == code.id,
                                     Entitlement.status.not_in([E.pending, E.refunded, E.reclaimed]))
        .values(reveal_count=Entitlement.reveal_count + 1).execution_options(synchronize_session=False)).rowcount
    if counted != 1:
        db.session.rollback()
        raise ValidationError(_l("This benefit has no code to reveal."))
    try:
        plain = sealing.reveal(code)
    except vault.Tampered as e:
        sealing.report_tampered(e, owner.id, ip, entitlement_id=ent.id)
        raise
    audit(owner.id, "code.reveal", "entitlement", ent.id, ip=ip, code_id=code.id)
    db.session.commit()
    return plain


def mark_used(owner: User, ent_id: int) -> Entitlement:
    ent = get_for_owner(owner, ent_id)
    if status_of(ent) != E.unused or ent.code_id is None:
        raise ValidationError(_l("Only an unused, valid benefit can be marked as used."))
    try:
        transition(ent, E.used, allowed=ENTITLEMENT_TRANSITIONS, actor_id=owner.id,
                   reason="marked used by owner", used_at=utcnow())
    except TransitionError:
        db.session.rollback()
        raise ValidationError(_l("Only an unused, valid benefit can be marked as used.")) from None
    db.session.commit()
    return ent


def redeem_topup(owner: User, ent_id: int, account: str) -> Delivery:
    """Send an unused top-up benefit to an account (validated first); the worker does the top-up."""
    ent = get_for_owner(owner, ent_id)
    sku = ent.sku
    if sku.type != SkuType.direct_topup:
        raise ValidationError(_l("This benefit is not a top-up."))
    account = accounts.normalise(sku.account_format, account)
    d = delivery_of(ent)
    if status_of(ent) != E.unused or d is None or d.status != D.awaiting_account:
        raise ValidationError(_l("This benefit can no longer be redeemed."))
    risk.check(Point.topup_redeem, owner, sku_id=sku.id, topup=account)  # before the benefit moves
    try:
        transition(ent, E.pending, allowed=ENTITLEMENT_TRANSITIONS, actor_id=owner.id,
                   reason="redeemed to an account", account=account)
        transition(d, D.queued, allowed=DELIVERY_TRANSITIONS, actor_id=owner.id, reason="redeemed",
                   account=account, next_attempt_at=utcnow(), out_order_no=d.key)
    except TransitionError:
        db.session.rollback()
        raise ValidationError(_l("This benefit can no longer be redeemed.")) from None
    enqueue([d.id])
    db.session.commit()
    return d


#: Renew is offered this long before an unused benefit runs out.
RENEW_WINDOW = timedelta(days=30)


def renewable(ent: Entitlement) -> bool:
    """Renew is offered on benefits about to end or gone: unused and near expiry, expired, a used top-up."""
    status = status_of(ent)
    if status == E.unused:
        return ent.valid_until is not None and ent.valid_until - utcnow() <= RENEW_WINDOW
    if status == E.used:
        return ent.sku.type == SkuType.direct_topup
    return status == E.expired


def renew(owner: User, ent_id: int) -> Order:
    """Buy the same SKU again (the whole joint membership for a component), one unit, with the last top-up
    account filled in."""
    ent = get_for_owner(owner, ent_id)
    if not renewable(ent):
        raise ValidationError(_l("This benefit cannot be renewed yet."))
    fmt = ent.sku.account_format if ent.sku.type == SkuType.direct_topup else None
    try:
        return create_retail_order(owner, ent.bundle_sku_id or ent.sku_id, 1,
                                   accounts={fmt: ent.account} if fmt and ent.account else None)
    except NotFound as e:  # the product is off sale: a message on the benefit, not a 404 for the benefit
        raise ValidationError(e.message, code=e.code) from None


def expire_entitlements(limit: int = 1000) -> int:
    """Mark unused entitlements past validity as expired (compare-and-set, safe to rerun). An unredeemed
    top-up's prepayment becomes revenue (breakage) at that point."""
    ids = db.session.scalars(
        sa.select(Entitlement.id).where(Entitlement.status == E.unused, Entitlement.valid_until < utcnow())
        .limit(limit)
    ).all()
    n = 0
    for ent_id in ids:
        ent = db.session.get(Entitlement, ent_id)
        try:
            transition(ent, E.expired, allowed=ENTITLEMENT_TRANSITIONS, actor_id=None, reason="validity elapsed")
            d = delivery_of(ent)
            if d is not None and d.status == D.awaiting_account:
                transition(d, D.expired, allowed=DELIVERY_TRANSITIONS, actor_id=None, reason="never redeemed")
                ledger.post("breakage", revenue_postings(d),
                            key=f"delivery:{d.id}:breakage", memo=d.key, ref=("order", d.order_id))
            db.session.commit()
            n += 1
        except TransitionError:
            db.session.rollback()
    return n


def brands_owned_by(owner_id: int) -> list[Brand]:
    """The brands of everything this user owns, for the benefit center's filter."""
    return list(db.session.scalars(
        sa.select(Brand).join(Product).join(Sku).join(Entitlement, Entitlement.sku_id == Sku.id)
        .where(Entitlement.owner_id == owner_id).distinct().order_by(Brand.name)))
