"""A member, in a real browser (desktop and a 375 px phone), subscribes to a monthly plan from the product
page, signs the withholding agreement on the sandbox gateway, comes back to "my subscriptions", sees the first
period paid once the charge job ran, and cancels in one click."""

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.accounts.models import User
from app.extensions import db
from app.loyalty import subscription_charges, subscriptions
from app.loyalty.models.subscriptions import Subscription
from tests.e2e.loyalty_steps import subscribe_and_sign
from tests.support.browser import Person

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


def test_subscribe_and_cancel(app, page, device, live_server, paygate, make_user, make_sku, stock, shoot,
                              settle_payments):
    me = Person(page, device)
    email = f"subs-{device}@t.example"
    uid = make_user("consumer", email=email)
    sku_id = make_sku(price="30.00", brand="爱奇艺", name="爱奇艺黄金会员 月卡")
    stock(sku_id, n=2)
    with app.app_context():
        actor = db.session.get(User, make_user("ops"))
        subscriptions.create_plan(actor, sku_id=sku_id, name="连续包月", period_months=1, price_fen=1990)

    page.goto(live_server + "/login")
    me.log_in(email)
    me.switch_language("en")

    def on_product_page():
        me.assert_fits("the product page with a plan")
        shoot(page, "subs-01-sku")

    subscribe_and_sign(me, live_server, paygate, "爱奇艺黄金会员 月卡", "¥19.90 / month", "连续包月", on_product_page)
    sub = page.locator(".subscription")
    expect(page.locator(".notification, .message").filter(has_text="Subscribed")).to_be_visible()

    with app.app_context():  # what the RQ worker would run on the job the signature queued
        row = db.session.scalars(sa.select(Subscription).where(Subscription.user_id == uid)).one()
        assert subscription_charges.charge(row.id) == "charged"
        settle_payments.append(f"{row.external_no}P1A1")
    me.nav("/me/subscriptions")
    expect(sub.locator("summary")).to_have_text("Periods (1 paid)")
    expect(sub.locator(".next-charge")).to_be_visible()
    me.assert_fits("my subscriptions")
    shoot(page, "subs-02-mine")

    me.press(sub.locator(".cancel-subscription"))
    expect(page.locator(".notification, .message").filter(has_text="Subscription cancelled")).to_be_visible()
    expect(sub.locator(".subscription-status")).to_have_text("Cancelled")
    expect(sub.locator(".cancel-subscription")).to_have_count(0)
    me.assert_fits("a cancelled subscription")
    shoot(page, "subs-03-cancelled")
