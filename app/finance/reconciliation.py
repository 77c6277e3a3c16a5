"""Reconciliation: each day, the payment gateway's settlement file against our payments and refunds, and each
supplier's bill against what we bought from it (deliveries and stock replenishments).

A run covers one counterparty's file for one local day and is rewritten by a rerun of that day. Every line that
does not agree becomes an item for finance: missing on our side (in their file, nowhere in our records),
missing on theirs (in our records of the day, not in their file), or amounts that differ. Items are unique per
run and reference, so a rerun updates an open item, closes one whose line now agrees, and leaves a resolved one
as it is. A file that cannot be fetched or read marks the run failed with the reason; nothing is swallowed.

A line of theirs that is not in our records of the day is looked up in all our records before it counts as
missing ours: around midnight the two sides may date the same payment on different days. Such a line is
compared by amount only.
"""

import logging
from collections.abc import Callable
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.accounts.models import Role, User
from app.core.audit import audit
from app.core.errors import Conflict, Forbidden, NotFound, TransitionError, ValidationError
from app.core.ids import utcnow
from app.core.models import StateChange
from app.core.states import transition
from app.extensions import db
from app.finance.models import (
    RECON_ITEM_TRANSITIONS,
    ReconItem,
    ReconItemStatus,
    ReconKind,
    ReconRun,
    ReconStatus,
)
from app.fulfilment.models import Delivery, DeliveryStatus
from app.ledger import periods
from app.ledger import services as ledger
from app.loyalty.models.wallet import PurchaseStatus, WalletPurchase
from app.payments.gateway import GatewayError, gateway
from app.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from app.suppliers import services as suppliers
from app.suppliers.adapters import SupplierError
from app.suppliers.models import Replenishment, ReplenishmentStatus, Supplier

log = logging.getLogger(__name__)

SOURCES = ("paygate", "supplier")
STATUSES = ("open", "resolved", "all")
#: A payment the gateway captured, whatever happened to it afterwards.
PAID = (PaymentStatus.succeeded, PaymentStatus.refund_pending, PaymentStatus.refunded)
REMARK_MAX = 300

#: reference → (line type, amount in fen)
Records = dict[str, tuple[str, int]]


def _finance(actor: User) -> None:
    if actor.role != Role.finance:
        raise Forbidden(_l("Only finance reconciles."))


def parse_day(text: str | date) -> date:
    """A day to reconcile: today at the latest (today's file is partial; a rerun tomorrow completes it)."""
    day = periods.parse_day(text, "day")
    if day > periods.local_day(utcnow()):
        raise ValidationError(_l("That day has not come yet."), code="DAY_IN_FUTURE", field="day")
    return day


def run(day: date, actor: User | None = None) -> list[ReconRun]:
    """Reconcile the gateway and every active supplier for `day`; one run each, failed ones included. `actor`
    is None for the scheduled run. Commits after each run, so one counterparty's failure spoils no other."""
    if actor is not None:
        _finance(actor)
    day = parse_day(day)
    runs = [_reconcile_paygate(day, actor)]
    for supplier_id in db.session.scalars(sa.select(Supplier.id).where(Supplier.active.is_(True))
                                          .order_by(Supplier.id)).all():
        runs.append(_reconcile_supplier(db.session.get(Supplier, supplier_id), day, actor))
    return runs


def run_yesterday() -> list[ReconRun]:
    """The scheduled run: yesterday's files, which the counterparties have closed by now."""
    return run(periods.local_day(utcnow()) - timedelta(days=1))


# --- one counterparty ---------------------------------------------------------------------------------------

def _reconcile_paygate(day: date, actor: User | None) -> ReconRun:
    try:
        theirs, error = [(line.reference, line.type, line.amount_fen) for line in gateway().statement(day)], ""
    except GatewayError as e:
        theirs, error = [], str(e) or "gateway error"
    return _record("paygate", "paygate", None, day, actor, theirs, error, _our_payments(day), _payment_anyday)


def _reconcile_supplier(supplier: Supplier, day: date, actor: User | None) -> ReconRun:
    supplier_id, code = supplier.id, supplier.code
    try:
        theirs, error = [(line.out_order_no, "", line.amount_fen)
                         for line in suppliers.adapter_for(supplier).bill(day)], ""
    except SupplierError as e:
        theirs, error = [], str(e) or "supplier error"
    return _record("supplier", code, supplier_id, day, actor, theirs, error, _our_purchases(supplier_id, day),
                   lambda ref: _purchase_anyday(supplier_id, ref))


def _record(source: str, counterparty: str, supplier_id: int | None, day: date, actor: User | None,
            theirs: list[tuple[str, str, int]], error: str, ours: Records,
            anyday: Callable[[str], tuple[str, int] | None]) -> ReconRun:
    run_ = _run_row(source, counterparty, supplier_id, day)
    run_.ran_at, run_.ran_by_id = utcnow(), actor.id if actor else None
    if error:
        run_.status, run_.error = ReconStatus.failed, error[:300]
        audit(run_.ran_by_id, "reconciliation.failed", "recon_run", run_.id, source=source,
              counterparty=counterparty, day=day.isoformat(), error=run_.error)
        db.session.commit()
        log.warning("reconciliation of %s for %s failed: %s", counterparty, day, error)
        return run_
    their: Records = {}
    for ref, line_type, amount in theirs:  # the same reference twice in a file is charged twice
        known = their.get(ref)
        their[ref] = (line_type or (known[0] if known else ""), amount + (known[1] if known else 0))
    found: dict[str, tuple[str, str, int | None, int | None]] = {}
    matched = 0
    for ref, (line_type, amount) in their.items():
        mine = ours.get(ref) or anyday(ref)
        if mine is None:
            found[ref] = (line_type or "unknown", ReconKind.missing_ours, None, amount)
        elif mine[1] != amount:
            found[ref] = (mine[0], ReconKind.amount_differs, mine[1], amount)
        else:
            matched += 1
    for ref, (line_type, amount) in ours.items():
        if ref not in their:
            found[ref] = (line_type, ReconKind.missing_theirs, amount, None)
    _write_items(run_, found, actor)
    run_.status = ReconStatus.mismatched if found else ReconStatus.matched
    run_.error, run_.matched = "", matched
    run_.their_lines, run_.our_lines = len(their), len(ours)
    run_.their_total_fen = sum(amount for _t, amount in their.values())
    run_.our_total_fen = sum(amount for _t, amount in ours.values())
    audit(run_.ran_by_id, "reconciliation.run", "recon_run", run_.id, source=source, counterparty=counterparty,
          day=day.isoformat(), status=run_.status, mismatches=len(found))
    db.session.commit()
    return run_


def _run_row(source: str, counterparty: str, supplier_id: int | None, day: date) -> ReconRun:
    """The day's run of this counterparty, created on its first run, locked until commit: two runs of the
    same day at once (the schedule and a button) take turns instead of writing the same items twice."""
    stmt = (sa.select(ReconRun).where(ReconRun.source == source, ReconRun.counterparty == counterparty,
                                      ReconRun.day == day)
            .with_for_update().execution_options(populate_existing=True))
    existing = db.session.scalars(stmt).first()
    if existing is not None:
        existing.runs += 1
        return existing
    try:
        with db.session.begin_nested():
            run_ = ReconRun(source=source, counterparty=counterparty, supplier_id=supplier_id, day=day,
                            status=ReconStatus.matched, runs=1)
            db.session.add(run_)
        return run_
    except IntegrityError:
        existing = db.session.scalars(stmt).one()
        existing.runs += 1
        return existing


def _write_items(run_: ReconRun, found: dict, actor: User | None) -> None:
    items = {i.reference: i for i in db.session.scalars(sa.select(ReconItem).where(ReconItem.run_id == run_.id))}
    for ref, (line_type, kind, ours, theirs) in found.items():
        item = items.get(ref)
        if item is None:
            db.session.add(ReconItem(run_id=run_.id, source=run_.source, day=run_.day, reference=ref[:80],
                                     line_type=line_type, kind=kind, our_amount_fen=ours, their_amount_fen=theirs))
        elif item.status == ReconItemStatus.open:
            item.line_type, item.kind, item.our_amount_fen, item.their_amount_fen = line_type, kind, ours, theirs
    for ref, item in items.items():
        if ref not in found and item.status == ReconItemStatus.open:
            transition(item, ReconItemStatus.resolved, allowed=RECON_ITEM_TRANSITIONS,
                       actor_id=actor.id if actor else None, reason="agrees on a later run", resolved_at=utcnow())


# --- our side -----------------------------------------------------------------------------------------------

def _our_payments(day: date) -> Records:
    """Payments captured and refunds paid out on `day`, by the reference the gateway knows them by."""
    lo, hi = periods.day_bounds(day, day)
    out: Records = {}
    # Orders wholly paid from the wallet (provider "internal", amount 0) never went through the gateway.
    for ref, amount in db.session.execute(sa.select(Payment.out_trade_no, Payment.amount_fen).where(
            Payment.status.in_(PAID), Payment.paid_at >= lo, Payment.paid_at < hi, Payment.provider != "internal")):
        out[ref] = ("payment", amount)
    # Stored-value top-ups and gift cards are paid through the gateway too, under their own numbers ("V…").
    for ref, amount in db.session.execute(sa.select(WalletPurchase.out_trade_no, WalletPurchase.amount_fen).where(
            WalletPurchase.status == PurchaseStatus.paid, WalletPurchase.paid_at >= lo, WalletPurchase.paid_at < hi)):
        out[ref] = ("payment", amount)
    for ref, amount in db.session.execute(sa.select(Refund.out_refund_no, Refund.amount_fen).where(
            Refund.status == RefundStatus.done, Refund.done_at >= lo, Refund.done_at < hi)):
        out[ref] = ("refund", amount)
    # A whole payment refunded (paid after its order closed) is sent as R<out_trade_no>; its time is its
    # state change's.
    for ref, amount in db.session.execute(
            sa.select(Payment.out_trade_no, Payment.amount_fen)
            .join(StateChange, sa.and_(StateChange.aggregate == Payment.__tablename__,
                                       StateChange.aggregate_id == Payment.id))
            .where(StateChange.to_status == PaymentStatus.refunded, StateChange.created_at >= lo,
                   StateChange.created_at < hi, Payment.provider != "internal")):
        out[f"R{ref}"] = ("refund", amount)
    return out


def _payment_anyday(ref: str) -> tuple[str, int] | None:
    amount = db.session.scalar(sa.select(Payment.amount_fen).where(Payment.out_trade_no == ref,
                                                                    Payment.status.in_(PAID)))
    if amount is None:
        amount = db.session.scalar(sa.select(WalletPurchase.amount_fen).where(
            WalletPurchase.out_trade_no == ref, WalletPurchase.status == PurchaseStatus.paid))
    if amount is not None:
        return "payment", amount
    amount = db.session.scalar(sa.select(Refund.amount_fen).where(Refund.out_refund_no == ref,
                                                                  Refund.status == RefundStatus.done))
    if amount is None and ref.startswith("R"):
        amount = db.session.scalar(sa.select(Payment.amount_fen).where(Payment.out_trade_no == ref[1:],
                                                                       Payment.status == PaymentStatus.refunded))
    return ("refund", amount) if amount is not None else None


def _our_purchases(supplier_id: int, day: date) -> Records:
    """What we recorded as bought from the supplier on `day`: units it delivered (not ones ops delivered by
    hand) and stock replenishments, at the cost we booked."""
    lo, hi = periods.day_bounds(day, day)
    out: Records = {}
    for ref, cost in db.session.execute(sa.select(Delivery.out_order_no, Delivery.cost_fen).where(
            Delivery.supplier_id == supplier_id, Delivery.status == DeliveryStatus.delivered,
            Delivery.delivered_by.is_(None), Delivery.out_order_no.is_not(None),
            Delivery.delivered_at >= lo, Delivery.delivered_at < hi)):
        out[ref] = ("delivery", cost or 0)
    for ref, cost in db.session.execute(sa.select(Replenishment.out_order_no, Replenishment.cost_fen).where(
            Replenishment.supplier_id == supplier_id, Replenishment.status == ReplenishmentStatus.done,
            Replenishment.finished_at >= lo, Replenishment.finished_at < hi)):
        out[ref] = ("replenishment", cost)
    return out


def _purchase_anyday(supplier_id: int, ref: str) -> tuple[str, int] | None:
    cost = db.session.execute(sa.select(Delivery.cost_fen).where(
        Delivery.supplier_id == supplier_id, Delivery.out_order_no == ref, Delivery.delivered_by.is_(None),
        Delivery.status == DeliveryStatus.delivered)).first()
    if cost is not None:
        return "delivery", cost[0] or 0
    cost = db.session.scalar(sa.select(Replenishment.cost_fen).where(
        Replenishment.supplier_id == supplier_id, Replenishment.out_order_no == ref,
        Replenishment.status == ReplenishmentStatus.done))
    return ("replenishment", cost) if cost is not None else None


# --- finance ------------------------------------------------------------------------------------------------

def parse_filters(status: str | None, source: str | None) -> tuple[str, str]:
    """('open' by default, '' for every source); an unknown value is refused, not silently widened."""
    status, source = (status or "open").strip(), (source or "").strip()
    if status not in STATUSES:
        raise ValidationError(_l("Unknown status filter."), code="FILTER_INVALID", field="status")
    if source and source not in SOURCES:
        raise ValidationError(_l("Unknown source filter."), code="FILTER_INVALID", field="source")
    return status, source


def items(status: str = "open", source: str = "", page: int = 1, per_page: int = 50):
    stmt = sa.select(ReconItem)
    if status != "all":
        stmt = stmt.where(ReconItem.status == status)
    if source:
        stmt = stmt.where(ReconItem.source == source)
    stmt = stmt.order_by(ReconItem.day.desc(), ReconItem.id.desc())
    return db.paginate(stmt, page=max(page, 1), per_page=per_page, error_out=False)


def summary() -> list[dict]:
    """Open items by source and kind, with how many and the amounts on each side."""
    rows = db.session.execute(
        sa.select(ReconItem.source, ReconItem.kind, sa.func.count(), ledger.fen_sum(ReconItem.our_amount_fen),
                  ledger.fen_sum(ReconItem.their_amount_fen))
        .where(ReconItem.status == ReconItemStatus.open).group_by(ReconItem.source, ReconItem.kind)
        .order_by(ReconItem.source, ReconItem.kind)).all()
    return [{"source": s, "kind": k, "count": n, "our_fen": int(o), "their_fen": int(t)} for s, k, n, o, t in rows]


def recent_runs(limit: int = 20) -> list[ReconRun]:
    return list(db.session.scalars(sa.select(ReconRun).order_by(ReconRun.day.desc(), ReconRun.source,
                                                                ReconRun.counterparty).limit(limit)))


def get_item(item_id: int) -> ReconItem:
    item = db.session.get(ReconItem, item_id)
    if item is None:
        raise NotFound(_l("Reconciliation item not found."))
    return item


def resolve(actor: User, item_id: int, remark: str) -> ReconItem:
    """Close an open item with the remark that explains it. Compare-and-set: of two members of finance
    resolving the same item, the second is told it is done already. Audited; commits."""
    _finance(actor)
    remark = (remark or "").strip()
    item = get_item(item_id)
    if not remark or len(remark) > REMARK_MAX:
        raise ValidationError(_l("Say how it was resolved, in 1 to %(n)s characters.", n=REMARK_MAX),
                              code="REMARK_INVALID", field="remark")
    if item.status != ReconItemStatus.open:
        raise Conflict(_l("This item is already resolved."), code="ALREADY_RESOLVED")
    try:
        transition(item, ReconItemStatus.resolved, allowed=RECON_ITEM_TRANSITIONS, actor_id=actor.id,
                   reason=remark, remark=remark, resolved_by_id=actor.id, resolved_at=utcnow())
    except TransitionError:
        db.session.rollback()
        raise Conflict(_l("This item is already resolved."), code="ALREADY_RESOLVED") from None
    audit(actor.id, "reconciliation.resolved", "recon_item", item.id, reference=item.reference, kind=item.kind,
          remark=remark)
    db.session.commit()
    return item
