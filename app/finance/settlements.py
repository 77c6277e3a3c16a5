"""Commission settlement. A run (on demand by finance, or the monthly scheduled one for the month just ended)
claims every commission accrued in a period and not yet settled, one line per parent agent, into a batch; a
member of finance other than who ran it approves it, which posts each agent's commission from payable (2205) to
its prepaid balance (2204), or rejects it, which hands its commissions back to the next run. A commission is
claimed by one conditional UPDATE, so two runs at once can never settle it twice."""

from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import Organization, Role, User
from app.channels import balance
from app.channels.models import Commission, Reseller
from app.core.audit import audit
from app.core.errors import Forbidden, NotFound, ValidationError
from app.core.ids import order_no, utcnow
from app.core.money import cny
from app.core.states import transition
from app.extensions import db
from app.finance.models import SETTLEMENT_TRANSITIONS, SettlementBatch, SettlementItem, SettlementStatus
from app.ledger import periods
from app.ledger import services as ledger
from app.notifications.links import link_to
from app.notifications.services import notify


def _finance(actor: User) -> None:
    if actor.role != Role.finance:
        raise Forbidden(_l("Only finance settles commissions."))


def parse_period(start: str | date, end: str | date) -> tuple[date, date]:
    return periods.days_that_are_over(start, end, _l("Settle days that are over: end the period yesterday at the "
                                                     "latest."))


def run(actor: User | None, first: date, last: date) -> SettlementBatch | None:
    """Claim the period's unsettled commissions into a new pending batch; None when there are none. `actor` is
    None for the scheduled run. Audited; commits; finance is told a batch waits."""
    if actor is not None:
        _finance(actor)
    lo, hi = periods.day_bounds(first, last)
    batch = SettlementBatch(batch_no=order_no("CS"), period_start=first, period_end=last,
                            created_by_id=actor.id if actor else None)
    db.session.add(batch)
    db.session.flush()
    claimed = db.session.execute(
        sa.update(Commission).where(Commission.settlement_batch_id.is_(None), Commission.settled_at.is_(None),
                                    Commission.created_at >= lo, Commission.created_at < hi)
        .values(settlement_batch_id=batch.id).execution_options(synchronize_session=False)).rowcount
    if not claimed:
        db.session.rollback()
        return None
    rows = db.session.execute(
        sa.select(Commission.reseller_id, sa.func.count(), ledger.fen_sum(Commission.amount_fen))
        .where(Commission.settlement_batch_id == batch.id).group_by(Commission.reseller_id)).all()
    db.session.add_all([SettlementItem(batch_id=batch.id, reseller_id=rid, commissions=n, amount_fen=int(amount))
                        for rid, n, amount in rows])
    batch.total_fen = sum(int(amount) for _rid, _n, amount in rows)
    audit(actor.id if actor else None, "settlement.run", "settlement_batch", batch.id, batch_no=batch.batch_no,
          total_fen=batch.total_fen)
    for uid in db.session.scalars(sa.select(User.id).where(User.role == Role.finance, User.active.is_(True))):
        if actor is None or uid != actor.id:
            notify(uid, "settlement_waiting", {"batch_no": batch.batch_no, "count": len(rows),
                                               "start": first.isoformat(), "end": last.isoformat()},
                   link=link_to("finance.settlement", batch_id=batch.id), dedupe_key=f"settlement:{batch.id}:{uid}")
    db.session.commit()
    return batch


def run_last_month() -> SettlementBatch | None:
    """The scheduled run: last month's commissions not settled yet (none twice: they are claimed)."""
    last = periods.local_day(utcnow()).replace(day=1) - timedelta(days=1)
    return run(None, last.replace(day=1), last)


def get(batch_id: int) -> SettlementBatch:
    batch = db.session.get(SettlementBatch, batch_id)
    if batch is None:
        raise NotFound(_l("Settlement batch not found."))
    return batch


def items(batch: SettlementBatch) -> list[dict]:
    rows = db.session.execute(
        sa.select(SettlementItem, Organization.name).join(Reseller, Reseller.id == SettlementItem.reseller_id)
        .join(Organization, Organization.id == Reseller.organization_id)
        .where(SettlementItem.batch_id == batch.id).order_by(Organization.name)).all()
    return [{"reseller_id": i.reseller_id, "name": name, "commissions": i.commissions, "amount_fen": i.amount_fen,
             "payable_fen": balance.commission_payable(i.reseller_id)} for i, name in rows]


def approve(actor: User, batch_id: int) -> SettlementBatch:
    """Post the batch: each agent's commission from payable to its balance, once (keyed). Someone other than
    who ran it. Audited; commits; the agents are told."""
    _finance(actor)
    batch = get(batch_id)
    if batch.created_by_id == actor.id:
        raise Forbidden(_l("You ran this settlement, so another member of finance must approve it."),
                        code="SAME_USER")
    transition(batch, SettlementStatus.posted, allowed=SETTLEMENT_TRANSITIONS, actor_id=actor.id,
               decided_by_id=actor.id, decided_at=utcnow())
    for item in db.session.scalars(sa.select(SettlementItem).where(SettlementItem.batch_id == batch.id)):
        ledger.post("commission_settlement", [(balance.commission_account(item.reseller_id), item.amount_fen),
                                              (balance.account_code(item.reseller_id), -item.amount_fen)],
                    key=f"settlement:{batch.id}:{item.reseller_id}", memo=batch.batch_no,
                    ref=("settlement", batch.id), actor_id=actor.id)
        org_id = db.session.scalar(sa.select(Reseller.organization_id).where(Reseller.id == item.reseller_id))
        for uid in db.session.scalars(sa.select(User.id).where(User.organization_id == org_id,
                                                               User.role == Role.reseller)):
            notify(uid, "commission_settled", {"amount": cny(item.amount_fen), "batch_no": batch.batch_no},
                   link=link_to("reseller.agent_commissions"), dedupe_key=f"commission_settled:{batch.id}:{uid}")
    db.session.execute(sa.update(Commission).where(Commission.settlement_batch_id == batch.id)
                       .values(settled_at=utcnow()).execution_options(synchronize_session=False))
    audit(actor.id, "settlement.posted", "settlement_batch", batch.id, total_fen=batch.total_fen)
    db.session.commit()
    return batch


def reject(actor: User, batch_id: int, note: str) -> SettlementBatch:
    """Reject the batch with a reason; its commissions wait for the next run. Audited; commits."""
    _finance(actor)
    note = (note or "").strip()
    if not note or len(note) > 300:
        raise ValidationError(_l("Say why, in 1 to %(n)s characters.", n=300), code="NOTE_INVALID", field="note")
    batch = get(batch_id)
    transition(batch, SettlementStatus.rejected, allowed=SETTLEMENT_TRANSITIONS, actor_id=actor.id, reason=note,
               decided_by_id=actor.id, decided_at=utcnow(), note=note)
    db.session.execute(sa.update(Commission).where(Commission.settlement_batch_id == batch.id)
                       .values(settlement_batch_id=None).execution_options(synchronize_session=False))
    audit(actor.id, "settlement.rejected", "settlement_batch", batch.id, note=note)
    db.session.commit()
    return batch


def listing(page: int = 1, per_page: int = 30):
    return db.paginate(sa.select(SettlementBatch).order_by(SettlementBatch.id.desc()), page=max(page, 1),
                       per_page=per_page, error_out=False)


def unsettled_fen() -> int:
    """Commission accrued and not yet claimed by any batch."""
    return int(db.session.scalar(sa.select(ledger.fen_sum(Commission.amount_fen)).where(
        Commission.settlement_batch_id.is_(None), Commission.settled_at.is_(None))))
