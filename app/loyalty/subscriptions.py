"""Auto-renewing subscriptions: ops' plans, a member subscribing (signing a withholding agreement at the
gateway), the gateway's agreement notices, cancelling, and what the pages list. Charging each period is in
subscription_charges.py; docs/loyalty-subscriptions.md has the whole story."""

import logging
import secrets

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.catalog.models import Sku
from app.core.errors import NotFound, TransitionError, ValidationError
from app.core.hooks import after_commit
from app.core.ids import utcnow
from app.core.rejections import count_rejected
from app.core.states import transition
from app.extensions import db
from app.loyalty.models.subscriptions import (
    LIVE,
    SUBSCRIPTION_TRANSITIONS,
    Subscription,
    SubscriptionCharge,
    SubscriptionPlan,
    SubscriptionStatus,
)
from app.payments.gateway import AgreementNotice, GatewayError, gateway
from app.queues import queue

log = logging.getLogger(__name__)
S = SubscriptionStatus
#: Where rejected agreement notices are counted (app.core.rejections).
NOTICE_SOURCE = "paygate:agreement"
PERIODS = (1, 3)


# --- plans (ops) -----------------------------------------------------------------------------------------

def _plan_values(sku_id: int, name: str, period_months: int, price_fen: int, reminder_days: int) -> dict:
    errors = {}
    sku = db.session.get(Sku, sku_id) if sku_id else None
    if sku is None:
        errors["sku_id"] = _l("Choose a SKU.")
    if not (name or "").strip():
        errors["name"] = _l("Give the plan a name.")
    if period_months not in PERIODS:
        errors["period_months"] = _l("A plan is monthly or quarterly.")
    if not isinstance(price_fen, int) or price_fen <= 0:
        errors["price"] = _l("The price per period must be more than zero.")
    if not isinstance(reminder_days, int) or not 0 <= reminder_days <= 15:
        errors["reminder_days"] = _l("Remind between 0 and 15 days before a charge.")
    if errors:
        raise ValidationError(next(iter(errors.values())), code="PLAN_INVALID", fields=errors)
    return dict(sku_id=sku_id, name=name.strip()[:120], period_months=period_months, price_fen=price_fen,
                reminder_days=reminder_days)


def create_plan(actor: User, *, sku_id: int, name: str, period_months: int, price_fen: int,
                reminder_days: int = 3) -> SubscriptionPlan:
    plan = SubscriptionPlan(**_plan_values(sku_id, name, period_months, price_fen, reminder_days), active=True)
    db.session.add(plan)
    db.session.commit()
    log.info("plan %s created by %s", plan.id, actor.id)
    return plan


def update_plan(actor: User, plan_id: int, *, name: str, price_fen: int, reminder_days: int,
                active: bool) -> SubscriptionPlan:
    """A new price applies from the next charge (members agreed to at most the price they signed for: a
    higher one is refused by the gateway, EXCEED_MAX_AMOUNT, and the plan retries then suspends)."""
    plan = get_plan(plan_id)
    values = _plan_values(plan.sku_id, name, plan.period_months, price_fen, reminder_days)
    plan.name, plan.price_fen, plan.reminder_days, plan.active = (values["name"], values["price_fen"],
                                                                   values["reminder_days"], bool(active))
    db.session.commit()
    log.info("plan %s updated by %s", plan.id, actor.id)
    return plan


def get_plan(plan_id: int) -> SubscriptionPlan:
    plan = db.session.get(SubscriptionPlan, plan_id)
    if plan is None:
        raise NotFound(_l("This plan does not exist."), code="PLAN_NOT_FOUND")
    return plan


def all_plans() -> list[SubscriptionPlan]:
    return list(db.session.scalars(sa.select(SubscriptionPlan).order_by(SubscriptionPlan.id.desc())))


def plans_for_sku(sku_id: int) -> list[SubscriptionPlan]:
    return list(db.session.scalars(sa.select(SubscriptionPlan).where(SubscriptionPlan.sku_id == sku_id,
                                                                     SubscriptionPlan.active)
                                   .order_by(SubscriptionPlan.period_months)))


def subscriptions_page(status: str | None = None, limit: int = 200) -> list[Subscription]:
    q = sa.select(Subscription).order_by(Subscription.id.desc()).limit(limit)
    if status:
        q = q.where(Subscription.status == status)
    return list(db.session.scalars(q.options(sa.orm.joinedload(Subscription.plan),
                                             sa.orm.joinedload(Subscription.user))))


# --- members ---------------------------------------------------------------------------------------------

def subscribe(member: User, plan_id: int) -> Subscription:
    """Start a subscription waiting for its agreement to be signed (the caller sends the member to
    `sign_url`). A second click before signing gets the same one back."""
    plan = db.session.get(SubscriptionPlan, plan_id)
    if plan is None or not plan.active or not plan.sku.active:
        raise NotFound(_l("This plan does not exist or is no longer offered."), code="PLAN_NOT_FOUND")
    live = db.session.scalars(sa.select(Subscription).where(
        Subscription.user_id == member.id, Subscription.plan_id == plan.id,
        Subscription.status.in_(LIVE))).first()
    if live is not None:
        if live.status == S.signing:
            return live
        if live.status == S.suspended:
            raise ValidationError(_l("Your subscription to this plan is suspended. Cancel it before "
                                     "subscribing again."), code="PLAN_SUSPENDED")
        raise ValidationError(_l("You already subscribe to this plan."), code="PLAN_ALREADY_SUBSCRIBED")
    sub = Subscription(plan_id=plan.id, user_id=member.id, status=S.signing,
                       external_no="SA" + secrets.token_hex(10))
    db.session.add(sub)
    db.session.commit()
    return sub


def sign_url(sub: Subscription, notify_url: str, return_url: str) -> str:
    plan = sub.plan
    return gateway().agreement_sign_url(
        external_agreement_no=sub.external_no, plan=f"{plan.name} ({plan.sku.name})", period_type="MONTH",
        period=plan.period_months, max_amount_fen=plan.price_fen, notify_url=notify_url, return_url=return_url)


def get_for_member(member: User, sub_id: int, *, lock: bool = False) -> Subscription:
    """The member's own subscription; anyone else's answers NotFound (deny by default)."""
    sub = db.session.get(Subscription, sub_id, with_for_update=lock, populate_existing=lock)
    if sub is None or sub.user_id != member.id:
        raise NotFound(_l("This subscription does not exist."), code="SUBSCRIPTION_NOT_FOUND")
    return sub


def list_for_member(member: User) -> list[Subscription]:
    return list(db.session.scalars(sa.select(Subscription).where(Subscription.user_id == member.id)
                                   .options(sa.orm.joinedload(Subscription.plan))
                                   .order_by(Subscription.id.desc())))


def history(sub_ids: list[int]) -> dict[int, list[SubscriptionCharge]]:
    """Each subscription's charge attempts, newest first (one query for the whole page)."""
    out: dict[int, list[SubscriptionCharge]] = {i: [] for i in sub_ids}
    if sub_ids:
        for c in db.session.scalars(sa.select(SubscriptionCharge)
                                    .where(SubscriptionCharge.subscription_id.in_(sub_ids))
                                    .order_by(SubscriptionCharge.id.desc())):
            out[c.subscription_id].append(c)
    return out


def cancel(member: User, sub_id: int) -> Subscription:
    """Cancel in one click: no further charge, and the agreement is unsigned at the gateway (after commit,
    retried by the sweep until the gateway confirms). The row is locked first, as the charge locks it, so a
    cancel and a charge settle one way: a cancel while a charge is in flight is refused (that period is
    being paid and delivered); asked again a moment later, it goes through before the next period."""
    sub = get_for_member(member, sub_id, lock=True)
    if sub.status == S.cancelled:
        db.session.rollback()
        raise ValidationError(_l("This plan is already cancelled."), code="PLAN_CANCELLED")
    if sub.status == S.charging:
        db.session.rollback()
        raise ValidationError(_l("This period's charge is being taken right now. Try again in a minute: "
                                 "the next one will not be taken."), code="PLAN_CHARGING")
    _cancel(sub, member.id, "cancelled by the member")
    db.session.commit()
    return sub


def _cancel(sub: Subscription, actor_id: int | None, reason: str, *, unsigned: bool = False) -> None:
    now = utcnow()
    transition(sub, S.cancelled, allowed=SUBSCRIPTION_TRANSITIONS, actor_id=actor_id, reason=reason,
               cancelled_at=now, next_charge_at=None, unsigned_at=now if unsigned or not sub.agreement_no else None)
    if sub.agreement_no and not unsigned:
        sub_id = sub.id
        after_commit(db.session(), lambda: queue("payments").enqueue("jobs.loyalty_subs.unsign", sub_id))


def unsign(sub_id: int) -> bool:
    """Tell the gateway a cancelled subscription's agreement is over (idempotent there); the outbox sweep
    calls it again until it succeeds."""
    sub = db.session.get(Subscription, sub_id)
    if sub is None or sub.status != S.cancelled or sub.unsigned_at is not None or not sub.agreement_no:
        return False
    agreement_no = sub.agreement_no
    db.session.commit()
    gateway().unsign_agreement(agreement_no)
    db.session.execute(sa.update(Subscription).where(Subscription.id == sub_id, Subscription.unsigned_at.is_(None))
                       .values(unsigned_at=utcnow()))
    db.session.commit()
    return True


def pending_unsigns() -> list[int]:
    return list(db.session.scalars(sa.select(Subscription.id).where(
        Subscription.status == S.cancelled, Subscription.unsigned_at.is_(None),
        Subscription.agreement_no.is_not(None))))


# --- the gateway's agreement notices ---------------------------------------------------------------------

def handle_agreement_notice(form: dict) -> str:
    """Apply a signed agreement notice (or the member's signed return). Every outcome but a refused
    signature is final; applying one twice changes nothing (the transitions are compare-and-set)."""
    try:
        notice = gateway().parse_agreement_notice(form)
    except GatewayError as e:
        log.warning("agreement notice refused: %s", e)
        count_rejected(NOTICE_SOURCE, str(e))
        db.session.commit()
        return str(e)
    outcome = apply_agreement(notice)
    db.session.commit()
    return outcome


def apply_agreement(notice: AgreementNotice) -> str:
    sub = db.session.scalars(sa.select(Subscription).where(Subscription.external_no == notice.external_agreement_no)
                             .with_for_update().execution_options(populate_existing=True)).first()
    if sub is None:
        return "unknown_agreement"
    status = notice.agreement_status
    if status == "SIGNED":
        if sub.status == S.cancelled and sub.agreement_no is None:
            # Cancelled while the member was still at the gateway, which signed all the same: the unsign
            # sweep ends that agreement (the row is its outbox entry once it has the number).
            sub.agreement_no, sub.unsigned_at = notice.agreement_no, None
            return "unsigning"
        if sub.status != S.signing:
            return "duplicate"
        now = utcnow()
        # The first period is charged as soon as the agreement is signed: the job is queued after commit and
        # the charge sweep picks it up anyway if that enqueue is lost.
        transition(sub, S.active, allowed=SUBSCRIPTION_TRANSITIONS, actor_id=None, reason="agreement signed",
                   agreement_no=notice.agreement_no, anchor_at=now, next_charge_at=now)
        sub_id = sub.id
        after_commit(db.session(), lambda: queue("payments").enqueue("jobs.loyalty_subs.charge", sub_id))
        return "signed"
    if status in ("UNSIGNED", "REFUSED"):
        if sub.status in (S.cancelled, S.charging):
            # A charge in flight meets a dead agreement at the gateway (AGREEMENT_NOT_VALID) and cancels then.
            return "duplicate"
        try:
            _cancel(sub, None, f"agreement {status.lower()} at the gateway", unsigned=True)
        except TransitionError:
            return "duplicate"
        return "cancelled"
    return "ignored_status"
