"""Gateway notifications: only a verified, matching, first notice changes anything."""

import threading
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.rejections import RejectedNotice
from app.extensions import db
from app.fulfilment.models import Entitlement
from app.orders import services as orders
from app.orders.models import Order
from app.payments import services as payments
from app.payments.models import PaymentNotification
from tests.support.payments import notice


@pytest.fixture
def order(ctx, make_user, make_sku, stock):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 3)
    return orders.create_retail_order(db.session.get(User, make_user("consumer")), sku_id, 1)


def entitlements() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Entitlement))


def rejected_counts() -> dict:
    return dict(db.session.execute(sa.select(RejectedNotice.reason, RejectedNotice.count)).all())


def post(client, form):
    return client.post("/payments/notify/sandbox", data=form)


def test_valid_notification_over_http_delivers(client, order):
    resp = post(client, notice(order.order_no, order.amount_fen))
    assert resp.status_code == 200 and resp.data == b"success"
    db.session.refresh(order)
    assert order.status == "delivered" and entitlements() == 1


def test_replayed_notification_changes_nothing(client, order):
    form = notice(order.order_no, order.amount_fen)
    assert post(client, form).data == b"success"
    again = post(client, form)
    assert again.status_code == 200 and again.data == b"success"  # acknowledged so the gateway stops
    assert entitlements() == 1
    outcomes = db.session.scalars(sa.select(PaymentNotification.outcome).order_by(PaymentNotification.id)).all()
    assert outcomes == ["applied", "duplicate"]


def test_second_notice_with_new_id_for_paid_order_changes_nothing(client, order):
    post(client, notice(order.order_no, order.amount_fen))
    assert post(client, notice(order.order_no, order.amount_fen)).data == b"success"
    assert entitlements() == 1


@pytest.mark.parametrize("tamper, outcome", [
    (lambda f: f.update(amount="0.01"), "bad_signature"),  # changed after signing
    (lambda f: f.update(sign="0" * 64), "bad_signature"),
    (lambda f: f.pop("sign"), "bad_signature"),
    (lambda f: f.update(merchant_id="someone-else"), "bad_signature"),
])
def test_forged_notifications_are_refused(client, order, tamper, outcome):
    form = notice(order.order_no, order.amount_fen)
    tamper(form)
    resp = post(client, form)
    assert resp.status_code == 400
    db.session.refresh(order)
    assert order.status == "pending_payment" and entitlements() == 0
    assert db.session.scalars(sa.select(PaymentNotification.outcome)).all() == []  # counted, not stored
    assert rejected_counts() == {outcome: 1}


def test_notification_signed_with_another_key_is_refused(client, order):
    resp = post(client, notice(order.order_no, order.amount_fen, key="not-our-key"))
    assert resp.status_code == 400 and entitlements() == 0


@pytest.mark.parametrize("kwargs, outcome", [
    ({"amount_delta": -1}, "amount_mismatch"),
    ({"amount_delta": 100}, "amount_mismatch"),
    ({"currency": "USD"}, "currency_mismatch"),
    ({"timestamp": int(time.time()) - 3600}, "stale"),
    ({"status": "CLOSED"}, "ignored_status"),
])
def test_mismatched_notifications_change_nothing(client, order, kwargs, outcome):
    delta = kwargs.pop("amount_delta", 0)
    post(client, notice(order.order_no, order.amount_fen + delta, **kwargs))
    db.session.refresh(order)
    assert order.status == "pending_payment" and entitlements() == 0
    stored = db.session.scalars(sa.select(PaymentNotification.outcome)).all()
    assert outcome in stored or rejected_counts() == {outcome: 1}


def test_unknown_order_is_refused(client, ctx):
    resp = post(client, notice("Q-does-not-exist", 100))
    assert resp.status_code == 400
    assert db.session.scalars(sa.select(PaymentNotification.outcome)).all() == []
    assert rejected_counts() == {"unknown_order": 1}


def test_malformed_notification_is_refused(client, ctx):
    from app.payments.gateway import sign

    form = {"merchant_id": "quanyi", "out_trade_no": "x", "amount": "abc", "timestamp": str(int(time.time()))}
    form["sign"] = sign(form, "test-paygate-key")
    assert post(client, form).status_code == 400


@pytest.mark.committed
def test_concurrent_duplicate_notifications_deliver_once(app, make_user, make_sku, stock):
    """The same notice (and fresh copies of it) arriving at once from 12 threads: one delivery."""
    with app.app_context():
        sku_id = make_sku(price="30.00")
        stock(sku_id, 5)
        buyer = db.session.get(User, make_user("consumer"))
        order = orders.create_retail_order(buyer, sku_id, 2)
        order_no, amount = order.order_no, order.amount_fen
    same = notice(order_no, amount)
    forms = [same] * 6 + [notice(order_no, amount) for _ in range(6)]
    barrier = threading.Barrier(len(forms))
    outcomes = []

    def deliver(form):
        with app.app_context():
            barrier.wait()
            outcomes.append(payments.handle_notification(dict(form)))

    threads = [threading.Thread(target=deliver, args=(f,)) for f in forms]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes.count("applied") == 1 and outcomes.count("duplicate") == len(forms) - 1
    with app.app_context():
        assert db.session.scalar(sa.select(Order.status).where(Order.order_no == order_no)) == "delivered"
        assert entitlements() == 2
        from app.ledger import services as ledger

        assert ledger.balance("1122") == amount and ledger.balance("6001") == -amount


@pytest.mark.committed
def test_round_trip_through_the_sandbox_gateway(app, paygate, make_user, make_sku, stock):
    """Signed checkout URL accepted by the gateway, payer pays, the return path queries and delivers."""
    with app.app_context():
        sku_id = make_sku(price="12.34")
        stock(sku_id, 1)
        order = orders.create_retail_order(db.session.get(User, make_user("consumer")), sku_id, 1)
        url = payments.checkout_url(order, notify_url="http://127.0.0.1:9/unreachable",
                                    return_url="http://127.0.0.1:9/return")
        order_no = order.order_no
    page = httpx.get(url)
    assert page.status_code == 200 and "12.34" in page.text and order_no in page.text
    trade_no = page.text.split('action="/checkout/')[1].split("/pay")[0]
    paid = httpx.post(f"{paygate}/checkout/{trade_no}/pay")
    assert paid.status_code == 303
    back = parse_qs(urlsplit(paid.headers["location"]).query)
    assert back["out_trade_no"] == [order_no] and back["trade_status"] == ["SUCCESS"]
    # The notification cannot reach us (unreachable notify URL): the payer's return queries the gateway.
    with app.app_context():
        order = db.session.scalars(sa.select(Order).where(Order.order_no == order_no)).one()
        assert payments.sync_from_gateway(order) == "applied"
        db.session.refresh(order)
        assert order.status == "delivered"
        assert payments.sync_from_gateway(order) == "succeeded"  # asking again changes nothing
        assert entitlements() == 1
        # A refund through the real sandbox is idempotent by out_refund_no.
        from app.payments.gateway import gateway

        first = gateway().refund(out_trade_no=order_no, out_refund_no=f"R{order_no}", amount_fen=1234, reason="t")
        second = gateway().refund(out_trade_no=order_no, out_refund_no=f"R{order_no}", amount_fen=1234,
                                  reason="t")
        assert first["refund_no"] == second["refund_no"]
    trades = [t for t in httpx.get(f"{paygate}/_sandbox/trades").json() if t["out_trade_no"] == order_no]
    assert trades[0]["refunds"] == 1


def test_gateway_refuses_a_tampered_checkout_url(app, paygate, ctx, order):
    url = payments.checkout_url(order, notify_url="http://127.0.0.1:9/n", return_url="http://127.0.0.1:9/r")
    tampered = url.replace("amount=30.00", "amount=0.01")
    assert httpx.get(tampered).status_code == 400
