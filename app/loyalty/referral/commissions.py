"""Per-SKU commission rates and a commission's life: made pending when a referred order is paid, made available
(paid into the promoter's wallet, once) by a job when the refund window has passed, cancelled by a refund
inside the window."""

import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.catalog.models import Sku
from app.core.errors import NotFound, TransitionError, ValidationError
from app.core.ids import utcnow
from app.core.states import transition
from app.extensions import db
from app.loyalty.models.referral import (
    COMMISSION_TRANSITIONS,
    Commission,
    CommissionStatus,
    Promoter,
    Referral,
    ReferralOutcome,
    ReferralRate,
)
from app.loyalty.referral import money
from app.orders.models import Order, OrderStatus

log = logging.getLogger(__name__)

STATUS_LABELS = {CommissionStatus.pending: _l("Pending settlement"), CommissionStatus.available: _l("In your wallet"),
                 CommissionStatus.cancelled: _l("Cancelled")}


def rate_of(sku_id: int) -> int:
    return db.session.scalar(sa.select(ReferralRate.rate_bp).where(ReferralRate.sku_id == sku_id)) or 0


def rates() -> list[ReferralRate]:
    return list(db.session.scalars(sa.select(ReferralRate).order_by(ReferralRate.sku_id)))


def set_rate(sku_id: int, percent: str, *, actor_id: int) -> ReferralRate | None:
    """Set a SKU's rate from a percentage as typed ("5", "2.5"); 0 or empty removes it. Commits."""
    if db.session.get(Sku, sku_id) is None:
        raise NotFound(_l("This product does not exist."), code="SKU_NOT_FOUND")
    top = current_app.config["REFERRAL_MAX_RATE_BP"]
    try:
        bp = round(float((percent or "0").strip()) * 100)
    except ValueError:
        bp = -1
    if not 0 <= bp <= top:
        raise ValidationError(_l("The rate must be a percentage from 0 to %(max)s.", max=f"{top / 100:g}"),
                              code="RATE_INVALID")
    row = db.session.get(ReferralRate, sku_id)
    if bp == 0:
        if row is not None:
            db.session.delete(row)
        db.session.commit()
        return None
    if row is None:
        row = ReferralRate(sku_id=sku_id, rate_bp=bp, updated_by_id=actor_id)
        db.session.add(row)
    else:
        row.rate_bp, row.updated_by_id = bp, actor_id
    db.session.commit()
    return row


def on_paid(order: Order) -> None:
    """payments.signals.order_paid, in the paying transaction: a pending commission for a referred order (none
    when the referral was refused or the SKU pays no commission). A second notice of the same payment finds
    the row there and adds nothing."""
    if order.channel != "retail":
        return
    row = db.session.execute(
        sa.select(Referral.promoter_id, ReferralRate.rate_bp, Commission.id).select_from(Referral)
        .outerjoin(ReferralRate, ReferralRate.sku_id == order.sku_id)
        .outerjoin(Commission, Commission.order_id == Referral.order_id)
        .where(Referral.order_id == order.id, Referral.outcome == ReferralOutcome.attributed)).first()
    if row is None or not row.rate_bp or row.id is not None:
        return
    amount = order.amount_fen * row.rate_bp // 10000
    if amount <= 0:
        return
    paid_at = order.paid_at or utcnow()
    db.session.add(Commission(order_id=order.id, promoter_id=row.promoter_id, base_fen=order.amount_fen,
                              rate_bp=row.rate_bp, amount_fen=amount,
                              due_at=paid_at + timedelta(days=current_app.config["REFERRAL_REFUND_WINDOW_DAYS"])))


def _cancel(commission: Commission, note: str) -> bool:
    try:
        transition(commission, CommissionStatus.cancelled, allowed=COMMISSION_TRANSITIONS, actor_id=None,
                   reason=note, cancelled_at=utcnow(), note=note[:200])
    except TransitionError:
        return False
    return True


#: What the promoter reads on a commission cancelled by a refund.
REFUNDED = "refunded"


def on_settled(order: Order, **_) -> None:
    """fulfilment.signals.order_settled, in the refunding transaction: a pending commission on an order refunded
    in full is cancelled now. Orders delivered (in full or in part) cost nothing here: a part refund lowers the
    commission when it matures, and `mature` cancels one on an order refunded any other way (a rejected review,
    a failed group buy)."""
    if order.channel != "retail" or order.status != OrderStatus.refunded:
        return
    commission = db.session.scalars(sa.select(Commission).where(
        Commission.order_id == order.id, Commission.status == CommissionStatus.pending)).first()
    if commission is not None:
        _cancel(commission, REFUNDED)


def mature(limit: int = 500) -> int:
    """Pending commissions past their refund window: paid into the promoter's wallet (what is left after part
    refunds), or cancelled when the order was refunded. Each one commits on its own; a rerun changes nothing
    twice (compare-and-set on the status, the ledger entry keyed by the commission). Returns how many moved."""
    now = utcnow()
    ids = list(db.session.scalars(sa.select(Commission.id).where(
        Commission.status == CommissionStatus.pending, Commission.due_at <= now)
        .order_by(Commission.due_at).limit(limit)))
    moved = 0
    for cid in ids:
        commission = db.session.get(Commission, cid, populate_existing=True)
        order = db.session.get(Order, commission.order_id, populate_existing=True)
        base = order.amount_fen - order.refunded_fen
        amount = min(commission.amount_fen, base * commission.rate_bp // 10000)
        try:
            if order.status == OrderStatus.refunded or amount <= 0:
                if not _cancel(commission, REFUNDED):
                    raise TransitionError("moved already")
            else:
                transition(commission, CommissionStatus.available, allowed=COMMISSION_TRANSITIONS, actor_id=None,
                           reason="refund window passed", available_at=now, amount_fen=amount)
                user_id = db.session.scalar(sa.select(Promoter.user_id).where(Promoter.id == commission.promoter_id))
                money.pay_commission(user_id, amount, key=f"referral_commission:{cid}:available",
                                     memo=order.order_no, ref=("order", order.id))
        except TransitionError:
            db.session.rollback()
            continue
        db.session.commit()
        moved += 1
    if moved:
        log.info("referral: %s commissions matured", moved)
    return moved


def for_promoter(promoter_id: int, limit: int = 50) -> list[tuple[Commission, str]]:
    """The promoter's latest commissions with their orders' numbers."""
    return list(db.session.execute(
        sa.select(Commission, Order.order_no).join(Order, Order.id == Commission.order_id)
        .where(Commission.promoter_id == promoter_id).order_by(Commission.id.desc()).limit(limit)).tuples())


def totals(promoter_id: int) -> dict[str, int]:
    """Fen by status: {"pending": …, "available": …, "cancelled": …}."""
    rows = db.session.execute(sa.select(Commission.status, sa.func.coalesce(sa.func.sum(Commission.amount_fen), 0))
                              .where(Commission.promoter_id == promoter_id).group_by(Commission.status)).all()
    out = {s.value: 0 for s in CommissionStatus}
    out.update({status: int(total) for status, total in rows})
    return out


def totals_by_promoter(ids: list[int]) -> dict[int, dict[str, int]]:
    """{promoter id: {"pending": fen, "available": fen, "cancelled": fen}} in one grouped query."""
    out = {i: {s.value: 0 for s in CommissionStatus} for i in ids}
    for pid, status, total in db.session.execute(
            sa.select(Commission.promoter_id, Commission.status, sa.func.sum(Commission.amount_fen))
            .where(Commission.promoter_id.in_(ids)).group_by(Commission.promoter_id, Commission.status)):
        out[pid][status] = int(total)
    return out
