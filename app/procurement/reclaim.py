"""At the claim deadline, the employer takes back what nobody used.

A grant still unclaimed, or claimed but with every benefit still untouched (never revealed, a stock code
or a top-up still waiting for its account), goes back: to the company's pool as a new grant, or as money
to the company's balance and its department's budget, as the request said. A benefit that was revealed,
used, or is being delivered is never taken back, and then the whole grant stays with the employee.

Each grant goes back in its own transaction, every change compare-and-set, so a run repeated, run twice at
once or killed halfway changes nothing twice.
"""

import logging
from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa

from app.catalog.models import Sku, SkuSource, SkuType
from app.core.errors import TransitionError
from app.core.ids import utcnow
from app.core.states import transition
from app.extensions import db
from app.fulfilment.models import (
    DELIVERY_TRANSITIONS,
    ENTITLEMENT_TRANSITIONS,
    Delivery,
    DeliveryStatus,
    Entitlement,
    EntitlementStatus,
)
from app.inventory.models import Code, CodeStatus
from app.ledger import services as ledger
from app.ledger.models import JournalEntry, LedgerAccount, Posting
from app.notifications import services as notifications
from app.notifications.links import link_to
from app.orders.models import Order
from app.procurement import budgets, enterprises, signals
from app.procurement.models import (
    GRANT_TRANSITIONS,
    Grant,
    GrantOrder,
    GrantStatus,
    Pack,
    ProcurementRequest,
    ReclaimMode,
)

log = logging.getLogger(__name__)
GS, E, D = GrantStatus, EntitlementStatus, DeliveryStatus


class _Keep(Exception):
    """The grant cannot be taken back (any more): roll its transaction back and leave it."""


def _returnable():
    """An entitlement the employer may take back: unused, never revealed, and either a code from our own
    stock (a plain one, back to stock) or a top-up still waiting for its account."""
    stock_code = sa.and_(
        Entitlement.code_id.is_not(None),
        sa.exists().where(Code.id == Entitlement.code_id, Code.max_uses == 1, Code.status == CodeStatus.delivered),
        sa.exists().where(Sku.id == Entitlement.sku_id, Sku.source == SkuSource.stock,
                          Sku.type != SkuType.direct_topup))
    waiting_topup = sa.exists().where(Delivery.entitlement_id == Entitlement.id,
                                      Delivery.status == D.awaiting_account)
    return sa.and_(Entitlement.status == E.unused, Entitlement.reveal_count == 0, sa.or_(stock_code, waiting_topup))


def _kept():
    """The grant has a benefit that stays with the employee."""
    return sa.exists().where(GrantOrder.grant_id == Grant.id, Entitlement.order_id == GrantOrder.order_id,
                             ~_returnable())


def due(now: datetime, limit: int) -> list[int]:
    """Grants past their deadline that can go back, oldest deadline first."""
    return list(db.session.scalars(
        sa.select(Grant.id).where(Grant.claim_deadline < now, sa.or_(
            Grant.status == GS.issued,
            sa.and_(Grant.status == GS.claimed, ~_kept())))
        .order_by(Grant.claim_deadline, Grant.id).limit(limit)))


def run(now: datetime | None = None, limit: int = 1000) -> dict:
    """Take back what is due; the requester of each request hears once about this run's grants."""
    now = now or utcnow()
    ids = due(now, limit)
    db.session.rollback()
    done: dict[int, list[int]] = defaultdict(list)
    counts = {"reclaimed": 0, "credited": 0, "kept": 0}
    for grant_id in ids:
        try:
            to, request_id = _take_back(grant_id, now)
            db.session.commit()
        except (_Keep, TransitionError):
            db.session.rollback()  # claimed, revealed or taken back meanwhile
            counts["kept"] += 1
            continue
        counts[to] += 1
        done[request_id].append(grant_id)
    for request_id, grant_ids in done.items():
        _tell_requester(request_id, grant_ids)
    db.session.commit()
    log.info("reclaim: %s", counts)
    return {**counts, "requests": len(done)}


def _take_back(grant_id: int, now: datetime) -> tuple[str, int]:
    grant = db.session.get(Grant, grant_id, with_for_update=True, populate_existing=True)
    if grant is None or grant.status not in (GS.issued, GS.claimed):
        raise _Keep()
    req = db.session.get(ProcurementRequest, grant.request_id)
    was = grant.status
    if was == GS.claimed:
        _return_benefits(grant)
    if req.reclaim_mode == ReclaimMode.credit:
        transition(grant, GS.credited, allowed=GRANT_TRANSITIONS, actor_id=None, reason="claim deadline: credited",
                   closed_at=now)
        enterprises.credit_back(grant.organization_id, grant.price_fen, key=f"grant:{grant.id}:credit",
                                memo=req.request_no, ref=("grant", grant.id), actor_id=None)
        if req.budget_id:
            budgets.release(req.budget_id, grant.price_fen)
        return "credited", req.id
    transition(grant, GS.reclaimed, allowed=GRANT_TRANSITIONS, actor_id=None, reason="claim deadline: to the pool",
               closed_at=now)
    db.session.add(Grant(organization_id=grant.organization_id, request_id=grant.request_id, recipient_id=None,
                         pack_id=grant.pack_id, department_id=grant.department_id, price_fen=grant.price_fen,
                         status=GS.pooled, source_grant_id=grant.id))
    return "reclaimed", req.id


def _return_benefits(grant: Grant) -> None:
    """Every benefit of a claimed grant back (or _Keep, and the caller rolls it all back): stock codes to
    stock with their revenue reversed, waiting top-ups refunded (their money never left prepayments)."""
    order_ids = list(db.session.scalars(sa.select(GrantOrder.order_id).where(GrantOrder.grant_id == grant.id)
                                        .order_by(GrantOrder.order_id)))
    for order_id in order_ids:  # the order rows first, as deliveries and payments lock them
        db.session.get(Order, order_id, with_for_update=True, populate_existing=True)
    ents = db.session.scalars(sa.select(Entitlement).where(Entitlement.order_id.in_(order_ids))
                              .order_by(Entitlement.id).with_for_update()
                              .execution_options(populate_existing=True)).all()
    if not ents:
        raise _Keep()
    for ent in ents:
        if ent.status != E.unused or ent.reveal_count:
            raise _Keep()
        d = db.session.scalars(sa.select(Delivery).where(Delivery.entitlement_id == ent.id)
                               .with_for_update().execution_options(populate_existing=True)).first()
        sku = db.session.get(Sku, ent.sku_id)
        if d is not None and d.status == D.awaiting_account:
            transition(ent, E.reclaimed, allowed=ENTITLEMENT_TRANSITIONS, actor_id=None, reason="claim deadline")
            transition(d, D.refunded, allowed=DELIVERY_TRANSITIONS, actor_id=None,
                       reason="taken back by the employer", next_attempt_at=None)
        elif ent.code_id is not None and sku.source == SkuSource.stock and sku.type != SkuType.direct_topup:
            code_id = ent.code_id
            transition(ent, E.reclaimed, allowed=ENTITLEMENT_TRANSITIONS, actor_id=None, reason="claim deadline",
                       code_id=None)
            back = db.session.execute(
                sa.update(Code).where(Code.id == code_id, Code.order_id == ent.order_id, Code.max_uses == 1,
                                      Code.status == CodeStatus.delivered)
                .values(status=CodeStatus.available, order_id=None, reserved_at=None, delivered_at=None)
                .execution_options(synchronize_session=False)).rowcount
            if back != 1:
                raise _Keep()
            if d is not None and d.status == D.delivered:
                ledger.post("enterprise_reclaim", [("6001", d.amount_fen), ("2203", -d.amount_fen)],
                            key=f"delivery:{d.id}:reclaim", memo=d.key, ref=("grant", grant.id))
                signals.unit_reclaimed.send(d)
        else:
            raise _Keep()
    _reverse_rounding(grant)


def _reverse_rounding(grant: Grant) -> None:
    """The few fen a claim earned outside any unit (see claims.claim), back to prepayments too."""
    amount = db.session.scalar(
        sa.select(Posting.amount_fen).join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(JournalEntry.idempotency_key == f"grant:{grant.id}:rounding", LedgerAccount.code == "2203"))
    if amount:
        ledger.post("enterprise_reclaim", [("6001", amount), ("2203", -amount)],
                    key=f"grant:{grant.id}:rounding:reclaim", memo=f"grant {grant.id}", ref=("grant", grant.id))


def _tell_requester(request_id: int, grant_ids: list[int]) -> None:
    req = db.session.get(ProcurementRequest, request_id)
    pack = db.session.get(Pack, req.pack_id)
    # The first grant of the batch names it: each grant goes back once, so each run's batch is told once.
    notifications.notify(req.requester_id, "grants_reclaimed", {"pack": pack.name, "count": len(grant_ids)},
                         link=link_to("enterprise.request", request_id=req.id),
                         dedupe_key=f"grants_reclaimed:{req.id}:{min(grant_ids)}")
