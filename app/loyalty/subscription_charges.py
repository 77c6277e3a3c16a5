"""Charging a subscription each period: the charge sweep, one charge (start, ask the gateway, settle),
failures retried with back-off then suspension, and the reminder before each charge.

One charge in three steps, so that no transaction is open while the gateway is asked:
1. lock the subscription row; if it is due, create the period's order (its stock reserved, its payment row
   carrying the attempt's out_trade_no) and a pending charge row, and move the subscription to `charging`
   (compare-and-set); commit. A subscription already `charging` (a run killed halfway) resumes its charge.
2. ask the gateway to charge the agreement with that out_trade_no (idempotent there: a rerun gets the same
   answer, so a period is never charged twice).
3. lock the row again and settle: SUCCESS pays the order exactly as a payment notice would (the ledger books
   it, fulfilment delivers it) and schedules the next period; FAIL closes the order (its stock goes back) and
   schedules a retry, or suspends the plan after the last one. A member hears of each.
"""

import calendar
import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app.core.errors import InsufficientStock, TransitionError
from app.core.ids import order_no, utcnow
from app.core.money import yuan
from app.core.states import transition
from app.extensions import db
from app.loyalty.models.subscriptions import (
    SUBSCRIPTION_TRANSITIONS,
    ChargeStatus,
    Subscription,
    SubscriptionCharge,
    SubscriptionStatus,
)
from app.notifications import services as notifications
from app.orders.models import Order, OrderStatus
from app.orders.services import close_unpaid, reserve_stock
from app.payments import services as payments
from app.payments.gateway import GatewayError, Notice, gateway
from app.payments.models import Payment

log = logging.getLogger(__name__)
S = SubscriptionStatus
#: Where the member's notices link to (the consumer portal's "my subscriptions"; a relative link).
MY_PAGE = "/me/subscriptions"
#: The gateway's answer that the agreement is gone (unsigned there): the subscription ends.
DEAD_AGREEMENT = "AGREEMENT_NOT_VALID"


def add_months(at: datetime, months: int) -> datetime:
    """The same day `months` later, or the month's last day (31 January + 1 month = 28/29 February)."""
    month = at.month - 1 + months
    year, month = at.year + month // 12, month % 12 + 1
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))


def due(now: datetime | None = None, limit: int = 500) -> list[int]:
    """Subscriptions to charge now, and charges cut short (still `charging` after SUBS_STUCK_MINUTES)."""
    now = now or utcnow()
    stuck = now - timedelta(minutes=current_app.config["SUBS_STUCK_MINUTES"])
    return list(db.session.scalars(sa.select(Subscription.id).where(sa.or_(
        sa.and_(Subscription.status.in_((S.active, S.retrying)), Subscription.next_charge_at <= now),
        sa.and_(Subscription.status == S.charging, Subscription.charging_since <= stuck),
    )).order_by(Subscription.next_charge_at).limit(limit)))


def charge(sub_id: int, now: datetime | None = None) -> str:
    """Charge the subscription's coming period if it is due (or resume the charge in flight). Returns what
    happened: not_due | charged | failed | retrying | suspended | cancelled | unknown (ask again later)."""
    now = now or utcnow()
    started = _start(sub_id, now)
    if isinstance(started, str):
        return started
    charge_id, agreement_no, out_trade_no, amount_fen, subject = started
    try:
        result = gateway().charge_agreement(agreement_no=agreement_no, out_trade_no=out_trade_no,
                                            amount_fen=amount_fen, subject=subject,
                                            notify_url=_notify_url())
    except GatewayError as e:
        # No answer to trust: the charge stays in flight and is asked again (same out_trade_no) by the sweep.
        log.warning("subscription %s charge %s: no answer from the gateway: %s", sub_id, out_trade_no, e)
        return "unknown"
    return _settle(sub_id, charge_id, result, now)


def _notify_url() -> str:
    # The payment notice's endpoint (app.web.payments.notify): a job has no request to build it with url_for.
    return current_app.config["PUBLIC_URL"].rstrip("/") + "/payments/notify/sandbox"


def _start(sub_id: int, now: datetime):
    sub = db.session.get(Subscription, sub_id, with_for_update=True, populate_existing=True)
    if sub is None:
        db.session.rollback()
        return "not_due"
    if sub.status == S.charging:
        c = db.session.get(SubscriptionCharge, sub.charge_id)
        started = (c.id, sub.agreement_no, c.out_trade_no, c.amount_fen, sub.plan.name)
        db.session.commit()
        return started
    if sub.status not in (S.active, S.retrying) or sub.next_charge_at is None or sub.next_charge_at > now:
        db.session.rollback()
        return "cancelled" if sub.status == S.cancelled else "not_due"
    plan, period, attempt = sub.plan, sub.periods_paid + 1, sub.failures + 1
    c = SubscriptionCharge(subscription_id=sub.id, period=period, attempt=attempt, amount_fen=plan.price_fen,
                           out_trade_no=f"{sub.external_no}P{period}A{attempt}")
    order = Order(order_no=order_no("S"), buyer_id=sub.user_id, channel="retail", sku_id=plan.sku_id, quantity=1,
                  unit_price_fen=plan.price_fen, amount_fen=plan.price_fen, status=OrderStatus.pending_payment,
                  expires_at=now + timedelta(days=1))
    db.session.add(order)
    db.session.flush()
    try:
        with db.session.begin_nested():
            reserve_stock(order)
    except InsufficientStock:
        # Nothing to deliver: this attempt fails here, without asking the gateway, and is retried like one.
        db.session.delete(order)
        c.status, c.fail_code, c.settled_at = ChargeStatus.failed, "OUT_OF_STOCK", now
        db.session.add(c)
        transition(sub, S.charging, allowed=SUBSCRIPTION_TRANSITIONS, actor_id=None, reason="charge (no stock)")
        outcome = _failed(sub, c, now)
        db.session.commit()
        return outcome
    db.session.add(Payment(order_id=order.id, out_trade_no=c.out_trade_no, amount_fen=plan.price_fen))
    c.order_id = order.id
    db.session.add(c)
    db.session.flush()
    try:
        transition(sub, S.charging, allowed=SUBSCRIPTION_TRANSITIONS, actor_id=None,
                   reason=f"charging period {period}", charge_id=c.id, charging_since=now)
    except TransitionError:
        db.session.rollback()
        return "not_due"
    started = (c.id, sub.agreement_no, c.out_trade_no, c.amount_fen, plan.name)
    db.session.commit()
    return started


def _settle(sub_id: int, charge_id: int, result, now: datetime) -> str:
    sub = db.session.get(Subscription, sub_id, with_for_update=True, populate_existing=True)
    c = db.session.get(SubscriptionCharge, charge_id, populate_existing=True)
    if sub.status != S.charging or sub.charge_id != charge_id or c.status != ChargeStatus.pending:
        db.session.rollback()
        return "duplicate"
    order = db.session.get(Order, c.order_id)
    c.settled_at = now
    if result.trade_status == "SUCCESS":
        # Applied as the payment notice would be (which then arrives, and is a duplicate): captured in the
        # ledger, the order paid, fulfilment delivering.
        notice = Notice(notify_id=f"agreement:{result.trade_no}", out_trade_no=c.out_trade_no,
                        trade_no=result.trade_no, amount_fen=result.amount_fen, currency="CNY",
                        trade_status="SUCCESS", timestamp=int(now.timestamp()))
        outcome = payments.apply_success(notice)
        log.info("subscription %s period %s: %s", sub.id, c.period, outcome)
        c.status = ChargeStatus.succeeded
        anchor = sub.anchor_at or now
        transition(sub, S.active, allowed=SUBSCRIPTION_TRANSITIONS, actor_id=None, reason=f"period {c.period} paid",
                   periods_paid=c.period, failures=0, charge_id=None, charging_since=None,
                   next_charge_at=add_months(anchor, c.period * sub.plan.period_months))
        notifications.notify(sub.user_id, "subscription_charged",
                             {"plan": sub.plan.name, "amount": f"¥{yuan(c.amount_fen)}", "period": c.period},
                             link=MY_PAGE, dedupe_key=f"subs:{sub.id}:paid:{c.period}")
        db.session.commit()
        return "charged"
    c.status, c.fail_code = ChargeStatus.failed, result.fail_code[:40] or "FAIL"
    if order is not None and order.status == OrderStatus.pending_payment:
        close_unpaid(order, None, f"subscription charge failed: {c.fail_code}")
    outcome = _failed(sub, c, now)
    db.session.commit()
    return outcome


def _failed(sub: Subscription, c: SubscriptionCharge, now: datetime) -> str:
    """A failed attempt (the subscription is `charging`): retry after the next back-off, suspend after the
    last, end it when the agreement is gone. The member hears of each."""
    params = {"plan": sub.plan.name, "amount": f"¥{yuan(c.amount_fen)}", "code": c.fail_code}
    done = dict(charge_id=None, charging_since=None)
    if c.fail_code == DEAD_AGREEMENT:
        transition(sub, S.cancelled, allowed=SUBSCRIPTION_TRANSITIONS, actor_id=None,
                   reason="agreement no longer valid", cancelled_at=now, unsigned_at=now, next_charge_at=None,
                   **done)
        notifications.notify(sub.user_id, "subscription_ended", params, link=MY_PAGE,
                             dedupe_key=f"subs:{sub.id}:ended")
        return "cancelled"
    waits = current_app.config["SUBS_RETRY_HOURS"]
    failures = sub.failures + 1
    key = f"subs:{sub.id}:failed:{c.period}:{c.attempt}"
    if failures > len(waits):
        transition(sub, S.suspended, allowed=SUBSCRIPTION_TRANSITIONS, actor_id=None,
                   reason=f"suspended after {failures} failed charges", failures=failures, next_charge_at=None,
                   **done)
        notifications.notify(sub.user_id, "subscription_suspended", params, link=MY_PAGE, dedupe_key=key)
        return "suspended"
    retry_at = now + timedelta(hours=waits[failures - 1])
    transition(sub, S.retrying, allowed=SUBSCRIPTION_TRANSITIONS, actor_id=None,
               reason=f"charge failed ({c.fail_code}); retry {failures}", failures=failures,
               next_charge_at=retry_at, **done)
    notifications.notify(sub.user_id, "subscription_charge_failed", {**params, "hours": f"{waits[failures - 1]:g}"},
                         link=MY_PAGE, dedupe_key=key)
    return "retrying"


def remind(now: datetime | None = None, limit: int = 500) -> int:
    """The reminder before each renewal (not before the first charge, which the member just signed for)."""
    now = now or utcnow()
    subs = db.session.scalars(sa.select(Subscription).where(
        Subscription.status == S.active, Subscription.periods_paid >= 1,
        Subscription.reminded_period <= Subscription.periods_paid, Subscription.next_charge_at.is_not(None))
        .options(sa.orm.joinedload(Subscription.plan)).limit(limit)).all()
    sent = 0
    for sub in subs:
        if sub.next_charge_at - timedelta(days=sub.plan.reminder_days) > now:
            continue
        period = sub.periods_paid + 1
        notifications.notify(sub.user_id, "subscription_reminder",
                             {"plan": sub.plan.name, "amount": f"¥{yuan(sub.plan.price_fen)}",
                              "date": f"{sub.next_charge_at:%Y-%m-%d}"},
                             link=MY_PAGE, dedupe_key=f"subs:{sub.id}:remind:{period}")
        db.session.execute(sa.update(Subscription).where(Subscription.id == sub.id)
                           .values(reminded_period=period).execution_options(synchronize_session=False))
        sent += 1
    db.session.commit()
    return sent
