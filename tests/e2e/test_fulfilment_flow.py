"""Fulfilment in a real browser: an employee redeems a direct-top-up benefit and watches it complete, and
ops resolves failed deliveries from the exception queue (retry, then refund).

The sandbox supplier does the top-ups; the engine runs in a background thread of the test process (the
`engine_loop` fixture) in place of the RQ worker, and the supplier calls back to the live server.
Each test runs at desktop width and on a 375 px phone.
"""

import re
import time

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.accounts.models import User
from app.extensions import db
from app.fulfilment import engine
from app.fulfilment.models import Delivery, Entitlement
from app.orders import services as orders
from app.orders.models import Order
from app.payments import services as payments
from app.payments.models import Refund
from tests.support.browser import Person
from tests.support.fulfilment import assert_ledger_balanced
from tests.support.payments import notice

pytestmark = [pytest.mark.e2e, pytest.mark.committed]

SLOW = 15_000  # ms: waits that span deliveries (expect's own default is 5 s)


def in_app(app, fn):
    with app.app_context():
        return fn()


def paid_order(app, buyer_id: int, sku_id: int, accounts: dict | None = None) -> int:
    """The id of an order created and paid through the services, as the gateway's notification would."""
    def make():
        order = orders.create_retail_order(db.session.get(User, buyer_id), sku_id, 1, accounts=accounts)
        order_id = order.id
        assert payments.handle_notification(notice(order.order_no, order.amount_fen)) == "applied"
        return order_id
    return in_app(app, make)


def delivery_of_order(app, order_id: int) -> Delivery:
    return in_app(app, lambda: db.session.scalars(sa.select(Delivery).where(Delivery.order_id == order_id)).one())


def fail_for_good(app, delivery_id: int) -> None:
    """Run the engine inline against the failing sandbox until the retries run out."""
    def run():
        for _ in range(10):
            d = db.session.get(Delivery, delivery_id, populate_existing=True)
            if d.status == "failed":
                return
            d.next_attempt_at, d.lease_until = None, None
            db.session.commit()
            engine.process(delivery_id)
        raise AssertionError(f"delivery {delivery_id} did not fail: {d.status}")
    in_app(app, run)


def wait_for(what: str, check, timeout: float = 10) -> None:
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_employee_redeems_a_topup_and_watches_it_complete(page, device, app, live_server, make_user, make_sku,
                                                         make_supplier, map_sku, supplier_sandbox, engine_loop,
                                                         shoot):
    me = Person(page, device)
    email = f"employee-{device}@t.example"
    employee = make_user("employee", email=email)
    sku_id = make_sku(type_="direct_topup", source="supplier", account_format="qq", brand="QQ音乐",
                      name="QQ音乐 绿钻 月卡", price="15.00", face="15.00")
    map_sku(sku_id, make_supplier(), "topup-qqmusic-1m")
    order_id = paid_order(app, employee, sku_id)  # no account given: the benefit waits to be redeemed
    d = delivery_of_order(app, order_id)
    assert d.status == "awaiting_account"
    # Asynchronous answers, so the progress can be seen: accepted now, topped up 1.5 s later.
    supplier_sandbox.faults(async_rate=1, callback_delay_ms=1500)
    engine_loop.start()

    page.goto(live_server + "/login")
    me.log_in(email, "/me/")
    card = page.locator(".benefit-card")
    expect(card).to_have_count(1)
    expect(card).to_have_attribute("data-status", "unused")
    me.press(card)
    expect(page).to_have_url(re.compile(rf"/me/benefits/{d.entitlement_id}$"))
    account = page.locator("#redeem-account")
    expect(account).to_have_attribute("inputmode", "numeric")
    page.evaluate("window.__samePage = true")  # gone if anything below reloads the page

    # A QQ number may not start with 0: the form comes back with the error, nothing is sent upstream.
    account.press_sequentially("012345")
    me.press(page.locator("#redeem-submit"))
    expect(page.locator("#redeem-error")).to_be_visible()
    expect(account).to_have_attribute("aria-invalid", "true")
    expect(account).to_have_value("012345")
    me.assert_fits("the benefit page")
    shoot(page, "topup-01-wrong-account")
    assert in_app(app, lambda: db.session.get(Delivery, d.id).status) == "awaiting_account"
    assert supplier_sandbox.orders() == []

    account.fill("")
    account.press_sequentially("10001234")
    me.press(page.locator("#redeem-submit"))
    progress = page.locator("#benefit-progress")
    expect(progress).to_be_visible()
    expect(page.locator("#benefit-status")).to_have_attribute("data-status", "pending")
    # The block polls itself: the supplier has accepted the order and is working on it ...
    expect(progress).to_have_attribute("data-delivery", "accepted", timeout=SLOW)
    expect(page.locator("[data-step=accepted]")).to_have_attribute("data-state", "current")
    shoot(page, "topup-02-in-progress")
    # ... and then it is done, and the polling stops.
    expect(page.locator("#topup-result")).to_be_visible(timeout=SLOW)
    expect(page.locator("#topup-result")).to_contain_text("10001234")
    expect(page.locator("#benefit-status")).to_have_attribute("data-status", "used")
    expect(progress).to_have_count(0)
    expect(page.locator("#benefit-state")).not_to_have_attribute("hx-get", re.compile("."))
    assert page.evaluate("window.__samePage === true"), "the page was reloaded"
    shoot(page, "topup-03-topped-up")

    [topup] = supplier_sandbox.topups()
    assert (topup["account"], topup["product_id"]) == ("10001234", "topup-qqmusic-1m")
    # The supplier's callback reached the live server (PUBLIC_URL) and was acknowledged.
    wait_for("the supplier's callback", lambda: supplier_sandbox.orders()[0]["callbacks_acked"] >= 1)
    d = in_app(app, lambda: db.session.get(Delivery, d.id))
    assert (d.status, d.account) == ("delivered", "10001234")
    assert in_app(app, lambda: db.session.get(Entitlement, d.entitlement_id).status) == "used"


def test_ops_resolves_failed_deliveries_by_retry_and_by_refund(page, device, app, live_server, make_user,
                                                               make_sku, make_supplier, map_sku, supplier_sandbox,
                                                               engine_loop, shoot):
    me = Person(page, device)
    sku_id = make_sku(type_="direct_topup", source="supplier", account_format="mobile", brand="中国移动",
                      name="话费 30 元", price="29.50", face="30.00")
    map_sku(sku_id, make_supplier(), "topup-mobile-30")
    buyer = make_user("consumer", email=f"buyer-{device}@t.example")
    supplier_sandbox.faults(error_rate=1)
    first = paid_order(app, buyer, sku_id, {"mobile": "13800138000"})
    second = paid_order(app, buyer, sku_id, {"mobile": "13900139000"})
    to_retry, to_refund = delivery_of_order(app, first), delivery_of_order(app, second)
    for d in (to_retry, to_refund):
        fail_for_good(app, d.id)
    assert supplier_sandbox.topups() == []
    engine_loop.start()
    email = f"ops-{device}@t.example"
    make_user("ops", email=email)

    page.goto(live_server + "/login")
    me.log_in(email, "/ops/")
    me.open_menu()
    badge = page.locator("#exceptions-badge")
    expect(badge).to_have_text("2")
    me.press(badge)
    expect(page).to_have_url(re.compile(r"/ops/exceptions$"))
    rows = page.locator("[data-delivery]")
    expect(rows).to_have_count(2)
    me.assert_fits("the exception queue")
    shoot(page, "ops-01-exception-queue")

    # Retry: the supplier works again, so the fresh attempt goes through.
    me.press(page.locator(f"[data-delivery='{to_retry.id}'] a"))
    expect(page).to_have_url(re.compile(rf"/ops/exceptions/{to_retry.id}$"))
    status = page.locator("h1 .delivery-status")
    expect(status).to_have_attribute("data-status", "failed")
    expect(page.locator("#last-error")).not_to_have_text("—")
    me.assert_fits("a failed delivery's page")
    shoot(page, "ops-02-failed-delivery")
    supplier_sandbox.calm()
    me.press(page.locator("#retry-form button[type=submit]"))
    expect(page.locator("#resolved")).to_be_visible()
    expect(page.locator("#retry-form")).to_have_count(0)
    deadline = time.time() + 10  # the page does not poll: look again until the engine loop has run
    while status.get_attribute("data-status") != "delivered":
        assert time.time() < deadline, f"still {status.get_attribute('data-status')} after the retry"
        time.sleep(0.3)
        page.reload()
    expect(page.locator("#resolved")).to_be_visible()
    shoot(page, "ops-03-retried-delivered")

    # Refund: the other one goes back to the buyer.
    me.open_menu()
    expect(badge).to_have_text("1")
    me.press(badge)
    expect(page).to_have_url(re.compile(r"/ops/exceptions$"))
    expect(rows).to_have_count(1)
    me.press(page.locator(f"[data-delivery='{to_refund.id}'] a"))
    expect(page).to_have_url(re.compile(rf"/ops/exceptions/{to_refund.id}$"))
    expect(status).to_have_attribute("data-status", "failed")
    page.locator("#refund-reason").press_sequentially("供应商无货")
    me.press(page.locator("#refund-form button[type=submit]"))
    expect(status).to_have_attribute("data-status", "refunded")
    expect(page.locator("#resolved")).to_be_visible()
    expect(page.locator("#refund-form")).to_have_count(0)
    expect(page.locator("#order-refunded")).to_have_text("¥29.50")
    expect(badge).to_have_count(0)  # the queue is empty
    shoot(page, "ops-04-refunded")

    def check():
        assert db.session.get(Delivery, to_retry.id).status == "delivered"
        assert db.session.get(Delivery, to_refund.id).status == "refunded"
        refund = db.session.scalars(sa.select(Refund)).one()
        assert (refund.amount_fen, refund.reason) == (to_refund.amount_fen, "供应商无货")
        order = db.session.get(Order, second)
        assert (order.refunded_fen, order.status) == (to_refund.amount_fen, "refunded")
        assert db.session.get(Entitlement, to_refund.entitlement_id).status == "refunded"
        assert_ledger_balanced()
    in_app(app, check)
    assert [t["account"] for t in supplier_sandbox.topups()] == ["13800138000"]
