"""Auto-replenishment: when a stocked SKU runs low, buy card codes from its supplier into our stock.

One open replenishment per SKU at a time; each is keyed upstream by its out_order_no, so a retried or
re-run job never buys twice, and the codes it brings are imported like any batch (duplicates skipped).
"""

import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app.catalog.models import Sku, SkuSource
from app.core import vault
from app.core.ids import token, utcnow
from app.core.states import transition
from app.extensions import db
from app.inventory import sealing
from app.inventory import services as inventory
from app.inventory.imports import BatchStatus
from app.inventory.models import Code, ImportBatch
from app.ledger import services as ledger
from app.queues import queue
from app.suppliers import services as suppliers
from app.suppliers.adapters import Outcome, Verdict
from app.suppliers.models import REPLENISHMENT_TRANSITIONS, Replenishment, ReplenishmentStatus, Supplier

log = logging.getLogger(__name__)
R = ReplenishmentStatus
OPEN = (R.queued, R.accepted)


def run() -> int:
    """Start a replenishment for every stocked SKU below its threshold; re-enqueue open ones that are due."""
    skus = list(db.session.scalars(sa.select(Sku).where(
        Sku.active.is_(True), Sku.source == SkuSource.stock, Sku.replenish_below.is_not(None),
        Sku.replenish_quantity > 0)))
    counts = inventory.available_counts([s.id for s in skus])
    busy = set(db.session.scalars(sa.select(Replenishment.sku_id).where(Replenishment.status.in_(OPEN))))
    started = []
    for sku in skus:
        if sku.id in busy or counts.get(sku.id, 0) >= sku.replenish_below:
            continue
        mappings = suppliers.mappings_for(sku.id)
        if not mappings:
            log.warning("SKU %s is low on stock but has no supplier to replenish from", sku.sku)
            continue
        m = mappings[0]
        r = Replenishment(sku_id=sku.id, supplier_id=m.supplier_id, out_order_no=f"RPL-{sku.id}-{token(9)}",
                          quantity=sku.replenish_quantity, cost_fen=m.cost_fen * sku.replenish_quantity,
                          next_attempt_at=utcnow())
        db.session.add(r)
        db.session.flush()
        started.append(r.id)
    db.session.commit()
    due = db.session.scalars(sa.select(Replenishment.id).where(Replenishment.status.in_(OPEN),
                                                               Replenishment.next_attempt_at <= utcnow()))
    q = queue("fulfilment")
    for rid in set(due) | set(started):
        q.enqueue("jobs.fulfilment.process_replenishment", rid)
    return len(started)


def process(replenishment_id: int) -> str:
    r = db.session.get(Replenishment, replenishment_id)
    if r is None or r.status not in OPEN:
        return "nothing to do"
    supplier = db.session.get(Supplier, r.supplier_id)
    product = next((m.product_id for m in suppliers.mappings_for(r.sku_id, active_only=False)
                    if m.supplier_id == supplier.id), None)
    adapter, status, out_order_no, quantity = suppliers.adapter_for(supplier), r.status, r.out_order_no, r.quantity
    db.session.rollback()
    if product is None:
        outcome = Outcome(Verdict.rejected, "the SKU is no longer mapped to this supplier")
    elif status == R.accepted:
        outcome = adapter.query(out_order_no)
    else:
        outcome = adapter.buy_cards(out_order_no, product, quantity, suppliers.callback_url(supplier))
    return _apply(replenishment_id, status, outcome)


def _apply(replenishment_id: int, seen: str, outcome: Outcome) -> str:
    cfg = current_app.config
    r = db.session.get(Replenishment, replenishment_id, with_for_update=True, populate_existing=True)
    if r.status != seen:
        db.session.rollback()
        return "stale"
    now = utcnow()
    v = outcome.verdict
    if v == Verdict.delivered:
        imported = _import(r, outcome)
        transition(r, R.done, allowed=REPLENISHMENT_TRANSITIONS, actor_id=None, reason="codes received",
                   imported=imported, finished_at=now)
        if r.cost_fen:
            ledger.post("stock_purchase", [("1405", r.cost_fen), ("2202", -r.cost_fen)],
                        key=f"replenishment:{r.id}:cost", memo=r.out_order_no, ref=("supplier", r.supplier_id))
        result = "done"
    elif v == Verdict.accepted:
        if r.status == R.queued:
            transition(r, R.accepted, allowed=REPLENISHMENT_TRANSITIONS, actor_id=None, reason="accepted")
        r.next_attempt_at = now + timedelta(seconds=cfg["FULFILMENT_POLL_SECONDS"])
        result = "accepted"
    elif v == Verdict.unknown and r.attempts < len(cfg["FULFILMENT_RETRY_DELAYS"]):
        r.next_attempt_at = now + timedelta(seconds=cfg["FULFILMENT_RETRY_DELAYS"][r.attempts])
        r.attempts += 1
        r.last_error = outcome.detail[:300]
        result = "retry"
    else:
        transition(r, R.failed, allowed=REPLENISHMENT_TRANSITIONS, actor_id=None, reason=outcome.detail,
                   last_error=outcome.detail[:300], finished_at=now)
        result = "failed"
    db.session.commit()
    return result


def _import(r: Replenishment, outcome: Outcome) -> int:
    sealer = vault.Sealer()
    batch = ImportBatch(sku_id=r.sku_id, source="supplier", filename=r.out_order_no, status=BatchStatus.done,
                        total_lines=len(outcome.cards), finished_at=utcnow())
    db.session.add(batch)
    db.session.flush()
    digests = {sealer.digest(c.code): c for c in outcome.cards}
    known = set(db.session.scalars(sa.select(Code.code_hash).where(Code.code_hash.in_(list(digests)))))
    fresh = [(h, c) for h, c in digests.items() if h not in known]
    db.session.add_all(Code(**sealing.sealed(sealer, code_id, r.sku_id, c.code, c.secret), batch_id=batch.id,
                            expires_at=c.expires_at)
                       for code_id, (_h, c) in zip(sealing.next_ids(len(fresh)), fresh, strict=True))
    batch.imported, batch.duplicates = len(fresh), len(outcome.cards) - len(fresh)
    return len(fresh)
