"""Ops review a held order in a real browser, at desktop width and on a 375 px phone: the paid order risk
control held waits in the review queue with its evidence; ops reject it and freeze the buyer (desktop) or
approve it (phone), and see the result in the decided tab."""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.accounts.models import User
from app.extensions import db
from app.orders import services as orders
from app.orders.models import Order
from tests.support.browser import Person
from tests.support.fulfilment import pay
from tests.support.reviews import hold_rule

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


def test_ops_review_a_held_order(page, device, app, live_server, make_user, make_sku, stock, shoot):
    me = Person(page, device)
    email = f"ops-review-{device}@t.example"
    ops_id = make_user("ops", email=email)
    buyer_id = make_user("consumer", email=f"held-{device}@t.example")
    sku_id = make_sku(price="30.00", name="爱奇艺 黄金VIP 月卡")
    stock(sku_id, 2)
    with app.app_context():
        hold_rule(db.session.get(User, ops_id))
        order = orders.create_retail_order(db.session.get(User, buyer_id), sku_id, 2)
        assert pay(order) == "applied"
        order_no = order.order_no

    page.goto(live_server + "/login")
    me.log_in(email, "/ops/")
    me.press(page.locator("#reviews-link"))  # from the ops home, until the Risk section takes it as a tab
    expect(page).to_have_url(re.compile(r"/ops/risk/reviews$"))
    box = page.locator(f".review[data-order='{order_no}']")
    expect(box).to_be_visible()
    expect(box.locator(".buyer")).to_contain_text(f"held-{device}@t.example")
    expect(box.locator(".decision-score")).to_have_text("70")
    expect(box.locator(".decision-rules")).to_contain_text("two or more: look at it")
    me.assert_fits("the review queue")
    shoot(page, "review-01-queue")

    reject = device != "phone"
    box.locator("textarea[name=note]").fill("同一设备多个账号" if reject else "老客户")
    if reject:
        me.press(box.locator("input.freeze"))
        me.press(box.locator("button.reject"))
        expect(page.locator("#flashes .notification.is-success")).to_contain_text("已拒绝")
    else:
        me.press(box.locator("button.approve"))
        expect(page.locator("#flashes .notification.is-success")).to_contain_text("已通过")
    expect(page.locator("#queue-empty")).to_be_visible()
    me.press(page.locator("#tab-decided"))
    expect(page).to_have_url(re.compile(r"/ops/risk/reviews\?tab=decided$"))
    done = page.locator(f".review.decided[data-order='{order_no}']")
    expect(done.locator(".review-status")).to_have_attribute("data-status", "rejected" if reject else "approved")
    if reject:
        expect(done).to_contain_text("账号已冻结")
    shoot(page, "review-02-decided")
    with app.app_context():
        status = db.session.scalars(sa.select(Order.status).where(Order.order_no == order_no)).one()
        assert status == ("refunded" if reject else "delivered")
        assert (db.session.get(User, buyer_id).frozen_at is not None) == reject
