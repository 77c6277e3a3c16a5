"""Issue 18's whole journey, in one real browser at phone size (375 px), clicking as a person would, in the
issue's order: a member checks in and sees the points, buys a benefit in the points mall with them, tops up the
wallet with a bonus (paying on the sandbox gateway's page), pays an order with wallet plus gateway, subscribes to
a plan (signing on the sandbox's agreement page) and cancels it, and opens the share poster; a friend, in a
browser of their own, buys through the share link; the member, now a promoter, sees the commission.

Each step's details are covered by the per-part flows (tests/e2e/test_{points,wallet,subscription,referral}_flow.py);
this test proves they work one after another for the same person."""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.accounts.models import User
from app.extensions import db
from app.loyalty import points, points_mall, subscription_charges, subscriptions
from app.loyalty.models.referral import ReferralRate
from app.loyalty.models.subscriptions import Subscription
from tests.e2e.loyalty_steps import friend_buys_through, pay_on_gateway, subscribe_and_sign
from tests.loyalty.wallet_support import product
from tests.support.browser import Person

pytestmark = [pytest.mark.e2e, pytest.mark.committed]

MALL_SKU, WALLET_SKU, PLAN_SKU, SHARED_SKU = ("QQ音乐 绿钻 周卡", "爱奇艺 黄金会员 季卡", "爱奇艺黄金会员 月卡",
                                               "QQ音乐 豪华绿钻 月卡")


def notice(page, text: str):
    return page.locator(".notification, .message").filter(has_text=text)


@pytest.mark.parametrize("device", ["phone"], indirect=True)
def test_the_loyalty_journey(app, page, browser, device, live_server, paygate, make_user, make_sku, stock, shoot,
                             settle_payments):
    email, friend_email = f"journey-{device}@t.example", f"journey-friend-{device}@t.example"
    uid = make_user("consumer", email=email)
    make_user("consumer", email=friend_email)
    mall_sku = make_sku(price="15.00", face="15.00", brand="QQ音乐", name=MALL_SKU)
    wallet_sku = make_sku(price="150.00", face="150.00", brand="爱奇艺", name=WALLET_SKU)
    plan_sku = make_sku(price="30.00", brand="爱奇艺", name=PLAN_SKU)
    shared_sku = make_sku(price="30.00", face="30.00", brand="QQ音乐", name=SHARED_SKU)
    for sku_id in (mall_sku, wallet_sku, plan_sku, shared_sku):
        stock(sku_id, n=2)
    with app.app_context():
        points.save_settings(None, earn_per_yuan=1, checkin_points=[5, 5, 10, 10, 10, 10, 20],
                             expiry_mode="year_end", expiry_days=365, remind_days=30)
        item_id = points_mall.save_item(None, sku_id=mall_sku, title=MALL_SKU, points_=100, cash_fen=0).id
        points.earn(uid, 100, kind="grant", key="e2e:journey-welcome", memo="welcome")
        card_id = product(name="充100送10", fixed="100.00", step="100.00", bonus="10.00")
        subscriptions.create_plan(db.session.get(User, make_user("ops")), sku_id=plan_sku, name="连续包月",
                                  period_months=1, price_fen=1990)
        db.session.add(ReferralRate(sku_id=shared_sku, rate_bp=1000))
        db.session.commit()

    me = Person(page, device)
    page.goto(live_server + "/login")
    me.log_in(email)
    me.switch_language("en")

    # 1. check in and see the points
    me.nav("/me/points")
    expect(page.locator("#points-balance")).to_have_text("100")
    me.press(page.locator("#checkin-button"))
    expect(notice(page, "Checked in: +5 points")).to_be_visible()
    expect(page.locator("#points-balance")).to_have_text("105")
    me.assert_fits("the points page")
    shoot(page, "journey-01-checked-in")

    # 2. buy a benefit in the points mall with points only
    me.press(page.locator("#mall-link"))
    me.press(page.locator(f'.mall-item[data-item="{item_id}"]'))
    expect(page.locator("#item-price")).to_have_text("100 points")
    me.press(page.locator("#buy-button"))
    expect(page).to_have_url(re.compile(re.escape(live_server) + r"/me/orders/\w+$"))
    expect(notice(page, "Bought with points.")).to_be_visible()
    me.nav("/me/points")
    expect(page.locator("#points-balance")).to_have_text("5")

    # 3. top up the wallet with a bonus: pay ¥100 on the gateway, hold ¥110
    me.nav("/me/wallet")
    expect(page.locator("#wallet-balance")).to_have_text("¥0.00")
    me.press(page.locator(f"#topup-{card_id}"))
    pay_on_gateway(me, paygate, "CNY 100.00", settle_payments, f"{live_server}/me/wallet")
    expect(page.locator("#wallet-balance")).to_have_text("¥110.00")
    me.assert_fits("the wallet after a top-up")
    shoot(page, "journey-02-topped-up")

    # 4. pay a ¥150 order with ¥110 from the wallet and ¥40 on the gateway
    me.nav("/me/shop")
    me.press(page.locator(".product-card").filter(has_text=WALLET_SKU))
    expect(page.locator("#wallet-option")).to_contain_text("Use wallet balance (¥110.00)")
    expect(page.locator("#use-wallet")).to_be_checked()
    me.press(page.locator("#buy"))
    pay_on_gateway(me, paygate, "CNY 40.00", settle_payments, f"{live_server}/me/orders/{{no}}")
    expect(page.locator("#wallet-paid")).to_contain_text("¥110.00")
    expect(page.locator("#gateway-part")).to_have_text("¥40.00")
    me.assert_fits("the order paid by wallet and gateway")
    shoot(page, "journey-03-split-order")

    # 5. subscribe to a plan (sign the agreement on the gateway's page), then cancel it
    subscribe_and_sign(me, live_server, paygate, PLAN_SKU, "¥19.90 / month", "连续包月")
    sub = page.locator(".subscription")
    with app.app_context():  # what the RQ worker would run on the job the signature queued
        row = db.session.scalars(sa.select(Subscription).where(Subscription.user_id == uid)).one()
        assert subscription_charges.charge(row.id) == "charged"
        settle_payments.append(f"{row.external_no}P1A1")
    me.nav("/me/subscriptions")
    expect(sub.locator("summary")).to_have_text("Periods (1 paid)")
    me.press(sub.locator(".cancel-subscription"))
    expect(notice(page, "Subscription cancelled")).to_be_visible()
    expect(sub.locator(".subscription-status")).to_have_text("Cancelled")
    me.assert_fits("a cancelled subscription")
    shoot(page, "journey-04-cancelled")

    # 6. become a promoter and open the share poster
    me.nav("/me/promote")
    page.locator("#accept-terms").check()
    me.press(page.locator("#become-promoter"))
    expect(page.locator("#promoter-code")).to_be_visible()
    page.goto(f"{live_server}/me/shop/{shared_sku}")
    me.press(page.locator("#share-product"))
    expect(page.locator("#share-rate")).to_contain_text("10%")
    expect(page.locator("#poster")).to_be_visible()
    page.wait_for_function("() => document.querySelector('#poster').complete")
    assert page.evaluate("document.querySelector('#poster').naturalWidth") == 750  # a real PNG came back
    me.assert_fits("the share page with its poster")
    shoot(page, "journey-05-poster")
    share_url = page.locator("#share-url").input_value()

    # 7. a friend opens the link in a browser of their own, signs in, buys and pays
    friend_buys_through(browser, device, share_url, friend_email, live_server, paygate, shared_sku, "CNY 30.00",
                        settle_payments)

    # 8. the promoter sees the referred order and its commission (10% of ¥30, pending the refund window)
    me.nav("/me/promote")
    expect(page.locator(".referred-order")).to_have_count(1)
    expect(page.locator("#pending")).to_have_text("¥3.00")
    expect(page.locator(".commission[data-status=pending]")).to_contain_text("¥3.00")
    me.assert_fits("the promoter centre with a commission")
    shoot(page, "journey-06-commission")
