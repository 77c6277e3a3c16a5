"""Withdrawals of earned commission: the promoter asks (the amount leaves the wallet into 2243 at once, so it
cannot be spent twice), finance staff pay it to the bank or reject it with a reason (the amount goes back).
Two people: the promoter asks, a finance user decides; a finance user who is the promoter cannot exist (staff
are not consumers), and the decision is a compare-and-set, so two clicks decide once."""

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.core.errors import Conflict, NotFound, TransitionError, ValidationError
from app.core.ids import utcnow
from app.core.money import parse_yuan, yuan
from app.core.states import transition
from app.extensions import db
from app.loyalty.models.referral import (
    WITHDRAWAL_TRANSITIONS,
    Commission,
    CommissionStatus,
    Promoter,
    Withdrawal,
    WithdrawalStatus,
)
from app.loyalty.referral import money
from app.notifications import services as notifications

STATUS_LABELS = {WithdrawalStatus.requested: _l("Waiting for finance"), WithdrawalStatus.paid: _l("Paid out"),
                 WithdrawalStatus.rejected: _l("Rejected")}


def withdrawable(promoter: Promoter) -> int:
    """Commission the promoter may still take out: what became available less what was asked for (unless
    rejected), never more than the wallet holds (it may have been spent at checkout)."""
    earned = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Commission.amount_fen), 0)).where(
        Commission.promoter_id == promoter.id, Commission.status == CommissionStatus.available))
    asked = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Withdrawal.amount_fen), 0)).where(
        Withdrawal.promoter_id == promoter.id, Withdrawal.status != WithdrawalStatus.rejected))
    return max(0, min(int(earned) - int(asked), money.balance(promoter.user_id)))


def request(promoter: Promoter, amount: str, account: str) -> Withdrawal:
    """Ask to withdraw `amount` (yuan as typed) to `account`, or refuse saying why and change nothing."""
    try:
        fen = parse_yuan(amount)
    except (ValueError, ArithmeticError):
        fen = 0
    account = (account or "").strip()
    minimum = current_app.config["REFERRAL_MIN_WITHDRAWAL_FEN"]
    if fen < minimum:
        raise ValidationError(_l("The least you can withdraw is ¥%(min)s.", min=yuan(minimum)),
                              code="WITHDRAWAL_TOO_SMALL")
    if not 4 <= len(account) <= 100:
        raise ValidationError(_l("Enter the bank account to pay into."), code="ACCOUNT_REQUIRED")
    # The wallet's row, locked: two requests (or a request and a checkout paying from the wallet) are
    # serialised, each reading the totals and the balance the other left.
    money.lock(promoter.user_id)
    can = withdrawable(promoter)
    if fen > can:
        db.session.rollback()
        raise ValidationError(_l("You can withdraw at most ¥%(max)s now.", max=yuan(can)),
                              code="WITHDRAWAL_TOO_LARGE")
    w = Withdrawal(promoter_id=promoter.id, amount_fen=fen, account=account)
    db.session.add(w)
    db.session.flush()
    money.hold_withdrawal(promoter.user_id, fen, key=f"referral_withdrawal:{w.id}:held", memo=f"W{w.id}",
                          ref=("referral_withdrawal", w.id))
    db.session.commit()
    return w


def for_promoter(promoter_id: int, limit: int = 20) -> list[Withdrawal]:
    return list(db.session.scalars(sa.select(Withdrawal).where(Withdrawal.promoter_id == promoter_id)
                                   .order_by(Withdrawal.id.desc()).limit(limit)))


def queue(status: str | None = WithdrawalStatus.requested, limit: int = 100) -> list[Withdrawal]:
    q = sa.select(Withdrawal).order_by(Withdrawal.id.desc()).limit(limit)
    if status:
        q = q.where(Withdrawal.status == status)
    return list(db.session.scalars(q))


def _decide(withdrawal_id: int, actor: User, to: WithdrawalStatus, note: str) -> Withdrawal:
    if actor.role not in ("finance", "admin"):
        raise ValidationError(_l("Only finance staff decide withdrawals."), code="NOT_FINANCE")
    w = db.session.get(Withdrawal, withdrawal_id)
    if w is None:
        raise NotFound(_l("No such withdrawal."), code="WITHDRAWAL_NOT_FOUND")
    if w.promoter.user_id == actor.id:
        raise ValidationError(_l("Nobody decides their own withdrawal."), code="OWN_WITHDRAWAL")
    try:
        transition(w, to, allowed=WITHDRAWAL_TRANSITIONS, actor_id=actor.id, reason=note or to.value,
                   decided_by_id=actor.id, decided_at=utcnow(), note=note[:200])
    except TransitionError:
        db.session.rollback()
        raise Conflict(_l("This withdrawal was already decided."), code="WITHDRAWAL_DECIDED") from None
    key, ref, memo = f"referral_withdrawal:{w.id}", ("referral_withdrawal", w.id), f"W{w.id}"
    if to == WithdrawalStatus.paid:
        money.pay_withdrawal(w.amount_fen, key=f"{key}:paid", memo=memo, ref=ref, actor_id=actor.id)
        kind = "referral_withdrawal_paid"
    else:
        money.return_withdrawal(w.promoter.user_id, w.amount_fen, key=f"{key}:returned", memo=memo, ref=ref,
                                actor_id=actor.id)
        kind = "referral_withdrawal_rejected"
    notifications.notify(w.promoter.user_id, kind, {"amount": yuan(w.amount_fen), "reason": note},
                         dedupe_key=f"{key}:{to.value}")
    db.session.commit()
    return w


def pay(withdrawal_id: int, actor: User) -> Withdrawal:
    """Finance paid it to the promoter's bank account: 2243 → 1002."""
    return _decide(withdrawal_id, actor, WithdrawalStatus.paid, "")


def reject(withdrawal_id: int, actor: User, reason: str) -> Withdrawal:
    """Finance refuses it, saying why: the amount goes back to the wallet."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_l("Say why the withdrawal is rejected."), code="REASON_REQUIRED")
    return _decide(withdrawal_id, actor, WithdrawalStatus.rejected, reason)
