"""Auto-renewing subscriptions on the sandbox gateway: sign, three periods with a failed charge in the
middle, retries then suspension, reminders, cancelling, and every refusal (it says why and changes nothing)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from app.accounts.models import User
from app.core.errors import NotFound, ValidationError
from app.core.models import StateChange
from app.extensions import db
from app.fulfilment.models import DeliveryStatus
from app.loyalty import subscription_charges as charges
from app.loyalty import subscriptions
from app.loyalty.models.subscriptions import SubscriptionCharge
from app.notifications.models import Notification
from app.orders.models import Order
from tests.loyalty.subs_helpers import fail_next, gateway_trades, reload, subscribed
from tests.support.fulfilment import assert_ledger_balanced, run
from tests.support.payments import Gate


@pytest.fixture
def gate(paygate):
    Gate(paygate).reset()
    return paygate


@pytest.fixture
def plan_id(app, make_sku, stock, make_user):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 6)
    with app.app_context():
        actor = db.session.get(User, make_user("ops"))
        return subscriptions.create_plan(actor, sku_id=sku_id, name="月度会员", period_months=1, price_fen=2500,
                                         reminder_days=3).id


def kinds(user_id: int) -> list[str]:
    return list(db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == user_id)
                                   .order_by(Notification.id)))


def test_three_periods_with_a_failed_charge_in_the_middle(ctx, gate, plan_id, make_user):
    uid = make_user()
    sub = subscribed(uid, plan_id, gate)
    assert sub.status == "active" and sub.periods_paid == 0 and sub.agreement_no
    anchor = sub.anchor_at

    assert charges.charge(sub.id) == "charged"  # the first period, right after signing
    sub = reload(sub.id)
    assert sub.periods_paid == 1 and sub.next_charge_at == charges.add_months(anchor, 1)

    second = sub.next_charge_at
    assert charges.charge(sub.id, now=second - timedelta(minutes=1)) == "not_due"
    fail_next(gate, sub, 1)
    assert charges.charge(sub.id, now=second) == "retrying"
    sub = reload(sub.id)
    assert (sub.status, sub.failures, sub.periods_paid) == ("retrying", 1, 1)
    assert sub.next_charge_at == second + timedelta(hours=1)
    assert charges.charge(sub.id, now=second + timedelta(minutes=30)) == "not_due"
    assert charges.charge(sub.id, now=second + timedelta(hours=1)) == "charged"
    sub = reload(sub.id)
    assert (sub.status, sub.failures, sub.periods_paid) == ("active", 0, 2)
    assert sub.next_charge_at == charges.add_months(anchor, 2)  # the schedule keeps its day
    assert charges.charge(sub.id, now=sub.next_charge_at) == "charged"
    assert reload(sub.id).periods_paid == 3

    rows = db.session.scalars(sa.select(SubscriptionCharge).where(SubscriptionCharge.subscription_id == sub.id)
                              .order_by(SubscriptionCharge.id)).all()
    assert [(c.period, c.attempt, c.status, c.fail_code) for c in rows] == [
        (1, 1, "succeeded", None), (2, 1, "failed", "INSUFFICIENT_BALANCE"), (2, 2, "succeeded", None),
        (3, 1, "succeeded", None)]
    orders = {c.out_trade_no: db.session.get(Order, c.order_id) for c in rows}
    assert orders[f"{sub.external_no}P2A1"].status == "cancelled"  # the failed attempt's order, its stock back
    paid = [o for o in orders.values() if o.status != "cancelled"]
    assert len(paid) == 3 and all(o.status in ("paid", "delivered") and o.amount_fen == 2500 for o in paid)
    for o in paid:
        assert [d.status for d in run(o.id)] == [DeliveryStatus.delivered]
    assert sorted(t["out_trade_no"] for t in gateway_trades(gate, sub) if t["status"] == "SUCCESS") == [
        f"{sub.external_no}P1A1", f"{sub.external_no}P2A2", f"{sub.external_no}P3A1"]
    assert kinds(uid) == ["subscription_charged", "subscription_charge_failed", "subscription_charged",
                          "subscription_charged"]
    assert_ledger_balanced()


def test_retries_back_off_then_the_plan_is_suspended(ctx, gate, plan_id, make_user):
    uid = make_user()
    sub = subscribed(uid, plan_id, gate)
    fail_next(gate, sub, 10, "PAYER_RISK_REJECTED")
    at = sub.next_charge_at
    outcomes = []
    for wait in (0, 1, 6, 24):
        at += timedelta(hours=wait)
        outcomes.append(charges.charge(sub.id, now=at))
        assert reload(sub.id).next_charge_at in (None, at + timedelta(hours={0: 1, 1: 6, 6: 24}.get(wait, 0)))
    assert outcomes == ["retrying", "retrying", "retrying", "suspended"]
    sub = reload(sub.id)
    assert (sub.status, sub.periods_paid, sub.next_charge_at) == ("suspended", 0, None)
    assert charges.charge(sub.id, now=at + timedelta(days=30)) == "not_due"
    assert kinds(uid) == ["subscription_charge_failed"] * 3 + ["subscription_suspended"]
    assert gateway_trades(gate, sub) == []  # nothing was taken
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)
                             .where(Order.buyer_id == uid, Order.status != "cancelled")) == 0
    member = db.session.get(User, uid)
    with pytest.raises(ValidationError) as e:
        subscriptions.subscribe(member, plan_id)
    assert e.value.code == "PLAN_SUSPENDED"
    subscriptions.cancel(member, sub.id)
    assert reload(sub.id).status == "cancelled"


def _snapshot(sub_id: int) -> tuple:
    s = reload(sub_id)
    changes = db.session.scalar(sa.select(sa.func.count()).select_from(StateChange)
                                .where(StateChange.aggregate == "subscriptions", StateChange.aggregate_id == sub_id))
    return s.status, s.cancelled_at, s.next_charge_at, s.periods_paid, changes


def test_cancel_stops_the_next_charge_and_a_second_cancel_is_refused(ctx, gate, plan_id, make_user):
    uid = make_user()
    sub = subscribed(uid, plan_id, gate)
    assert charges.charge(sub.id) == "charged"
    member = db.session.get(User, uid)
    subscriptions.cancel(member, sub.id)
    sub = reload(sub.id)
    assert sub.status == "cancelled" and sub.next_charge_at is None and sub.unsigned_at is None
    assert subscriptions.unsign(sub.id) is True  # the job the cancel queued: the agreement ends at the gateway
    assert reload(sub.id).unsigned_at is not None
    assert charges.charge(sub.id, now=sub.cancelled_at + timedelta(days=40)) == "cancelled"
    assert len(gateway_trades(gate, sub)) == 1

    before = _snapshot(sub.id)
    for locale, text in (("en", "This plan is already cancelled."), ("zh_CN", "该订阅已经取消。")):
        with force_locale(locale):
            with pytest.raises(ValidationError) as e:
                subscriptions.cancel(member, sub.id)
            assert e.value.code == "PLAN_CANCELLED" and str(e.value.message) == text
    assert _snapshot(sub.id) == before


def test_a_cancel_during_a_charge_is_refused_and_the_charge_completes(ctx, gate, plan_id, make_user):
    uid = make_user()
    sub = subscribed(uid, plan_id, gate)
    started = charges._start(sub.id, sub.next_charge_at)  # the job took the row, then was killed
    assert not isinstance(started, str)
    member = db.session.get(User, uid)
    before = _snapshot(sub.id)
    with force_locale("zh_CN"):
        with pytest.raises(ValidationError) as e:
            subscriptions.cancel(member, sub.id)
        assert e.value.code == "PLAN_CHARGING" and "正在扣款" in str(e.value.message)
    assert _snapshot(sub.id) == before
    # Rerun: the same out_trade_no, charged once; then the member's cancel goes through.
    assert charges.charge(sub.id) == "charged"
    assert charges.charge(sub.id) == "not_due"
    subscriptions.cancel(member, sub.id)
    assert [t["out_trade_no"] for t in gateway_trades(gate, sub)] == [f"{sub.external_no}P1A1"]


def test_a_charge_rerun_after_the_gateway_answered_charges_once(ctx, gate, plan_id, make_user):
    from app.payments.gateway import gateway

    sub = subscribed(make_user(), plan_id, gate)
    charge_id, agreement_no, out_trade_no, amount, subject = charges._start(sub.id, sub.next_charge_at)
    # The gateway took the money, the worker died before writing it down.
    first = gateway().charge_agreement(agreement_no=agreement_no, out_trade_no=out_trade_no, amount_fen=amount,
                                       subject=subject, notify_url="http://127.0.0.1:9/x")
    assert first.trade_status == "SUCCESS"
    assert charges.due(now=sub.next_charge_at + timedelta(hours=1)) == [sub.id]  # the sweep sees it stuck
    assert charges.charge(sub.id) == "charged"
    trades = gateway_trades(gate, sub)
    assert [(t["out_trade_no"], t["status"]) for t in trades] == [(out_trade_no, "SUCCESS")]
    assert reload(sub.id).periods_paid == 1
    assert_ledger_balanced()


def test_refusals_to_subscribe(ctx, gate, plan_id, make_user):
    uid = make_user()
    member = db.session.get(User, uid)
    first = subscriptions.subscribe(member, plan_id)
    assert subscriptions.subscribe(member, plan_id).id == first.id  # a second click before signing
    subscribed(uid, plan_id, gate)
    with force_locale("zh_CN"):
        with pytest.raises(ValidationError) as e:
            subscriptions.subscribe(member, plan_id)
        assert e.value.code == "PLAN_ALREADY_SUBSCRIBED" and str(e.value.message) == "你已经订阅了这个计划。"
    other = db.session.get(User, make_user())
    with pytest.raises(NotFound):
        subscriptions.cancel(other, first.id)  # someone else's: not found
    assert reload(first.id).status == "active"
    plan = subscriptions.get_plan(plan_id)
    plan.active = False
    db.session.commit()
    with pytest.raises(NotFound):
        subscriptions.subscribe(other, plan_id)


def test_unsigned_or_refused_at_the_gateway(ctx, gate, plan_id, make_user):
    import httpx

    from tests.loyalty.subs_helpers import signed_return

    member = db.session.get(User, make_user())
    sub = subscriptions.subscribe(member, plan_id)
    assert subscriptions.handle_agreement_notice(signed_return(sub, gate, action="refuse")) == "cancelled"
    assert reload(sub.id).status == "cancelled"

    sub = subscribed(member.id, plan_id, gate)
    httpx.post(f"{gate}/_sandbox/agreements/{sub.external_no}/unsign", timeout=10).raise_for_status()
    # The notice goes to an address nobody listens on here; the next charge meets the dead agreement.
    assert charges.charge(sub.id) == "cancelled"
    sub = reload(sub.id)
    assert sub.status == "cancelled" and sub.unsigned_at is not None
    assert gateway_trades(gate, sub) == []


def test_reminder_before_each_renewal(ctx, gate, plan_id, make_user):
    uid = make_user()
    sub = subscribed(uid, plan_id, gate)
    assert charges.remind() == 0  # not before the first charge, which was just signed for
    charges.charge(sub.id)
    due = reload(sub.id).next_charge_at
    assert charges.remind(now=due - timedelta(days=4)) == 0
    assert charges.remind(now=due - timedelta(days=3)) == 1
    assert charges.remind(now=due - timedelta(days=2)) == 0  # once a period
    assert kinds(uid)[-1] == "subscription_reminder"


def test_plan_validation(ctx, make_sku, make_user):
    actor = db.session.get(User, make_user("ops"))
    with pytest.raises(ValidationError) as e:
        subscriptions.create_plan(actor, sku_id=make_sku(), name=" ", period_months=2, price_fen=0)
    assert set(e.value.details["fields"]) == {"name", "period_months", "price"}
    assert subscriptions.all_plans() == []


def test_add_months_clamps_to_the_month_end():
    from datetime import datetime

    assert charges.add_months(datetime(2027, 1, 31, 8), 1) == datetime(2027, 2, 28, 8)
    assert charges.add_months(datetime(2027, 11, 30), 3) == datetime(2028, 2, 29)


def test_sandbox_agreement_charges_are_idempotent_and_bounded(ctx, gate, plan_id, make_user):
    import httpx

    from app.payments.gateway import GatewayError, gateway

    sub = subscribed(make_user(), plan_id, gate)
    gw = gateway()
    call = dict(agreement_no=sub.agreement_no, subject="x", notify_url="http://127.0.0.1:9/x")
    first = gw.charge_agreement(out_trade_no="T-idem-1", amount_fen=2500, **call)
    again = gw.charge_agreement(out_trade_no="T-idem-1", amount_fen=2500, **call)
    assert first == again and first.trade_status == "SUCCESS"
    with pytest.raises(GatewayError, match="OUT_TRADE_NO_REUSED"):
        gw.charge_agreement(out_trade_no="T-idem-1", amount_fen=100, **call)
    over = gw.charge_agreement(out_trade_no="T-over", amount_fen=2501, **call)
    assert (over.trade_status, over.fail_code) == ("FAIL", "EXCEED_MAX_AMOUNT")
    assert gw.unsign_agreement(sub.agreement_no) == "UNSIGNED"
    dead = gw.charge_agreement(out_trade_no="T-dead", amount_fen=2500, **call)
    assert (dead.trade_status, dead.fail_code) == ("FAIL", "AGREEMENT_NOT_VALID")
    listed = httpx.get(f"{gate}/_sandbox/agreements", timeout=10).json()
    assert [a["status"] for a in listed if a["agreement_no"] == sub.agreement_no] == ["UNSIGNED"]
    forged = httpx.post(f"{gate}/api/agreement/charge", data={"merchant_id": "quanyi", "agreement_no": "x",
                                                               "sign": "0" * 64}, timeout=10)
    assert forged.status_code == 400


def test_the_jobs_run_twice_change_nothing_twice(ctx, gate, plan_id, make_user):
    from jobs import loyalty_subs

    subs = [subscribed(make_user(), plan_id, gate) for _ in range(2)]
    assert loyalty_subs.charge_due() == 2
    assert loyalty_subs.charge_due() == 0
    assert [reload(s.id).periods_paid for s in subs] == [1, 1]
    assert [len(gateway_trades(gate, s)) for s in subs] == [1, 1]
    member = db.session.get(User, subs[0].user_id)
    subscriptions.cancel(member, subs[0].id)
    assert loyalty_subs.unsign_pending() == 1
    assert loyalty_subs.unsign_pending() == 0
    assert loyalty_subs.remind() == 0  # the next charges are a month away


def test_signed_after_the_member_cancelled_is_unsigned(ctx, gate, plan_id, make_user):
    import httpx

    from tests.loyalty.subs_helpers import signed_return

    member = db.session.get(User, make_user())
    sub = subscriptions.subscribe(member, plan_id)
    subscriptions.cancel(member, sub.id)  # from the subscriptions page, while the gateway's page is open
    assert subscriptions.handle_agreement_notice(signed_return(sub, gate)) == "unsigning"
    assert subscriptions.pending_unsigns() == [sub.id]
    assert subscriptions.unsign(sub.id) is True
    listed = httpx.get(f"{gate}/_sandbox/agreements", timeout=10).json()
    assert [a["status"] for a in listed if a["external_agreement_no"] == sub.external_no] == ["UNSIGNED"]
    assert reload(sub.id).status == "cancelled" and charges.charge(sub.id) == "cancelled"
