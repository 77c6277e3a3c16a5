"""A consumer becomes a promoter and shares a product (link and poster); a friend opens the link in a browser of
their own, signs in, buys and pays on the sandbox gateway; the promoter sees the referred order and its
commission pending, then available once the refund window has passed. At desktop width and on a 375 px phone."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.core.ids import utcnow
from app.extensions import db
from app.loyalty.models.referral import Commission, ReferralRate
from app.loyalty.referral import commissions
from tests.e2e.loyalty_steps import friend_buys_through
from tests.support.browser import Person

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


def test_share_a_poster_and_earn_on_a_friends_purchase(app, page, browser, device, live_server, paygate, make_user,
                                                        make_sku, stock, shoot, settle_payments):
    promoter_email, friend_email = f"promoter-{device}@t.example", f"buddy-{device}@t.example"
    make_user("consumer", email=promoter_email)
    make_user("consumer", email=friend_email)
    sku_id = make_sku(price="30.00", face="30.00", brand="QQ音乐", name="QQ音乐 豪华绿钻 月卡")
    stock(sku_id, n=3)
    with app.app_context():
        db.session.add(ReferralRate(sku_id=sku_id, rate_bp=1000))
        db.session.commit()

    me = Person(page, device)
    page.goto(f"{live_server}/login")
    me.log_in(promoter_email)
    me.nav("/me/promote")
    expect(page.locator("#promoter-terms")).to_contain_text("推广")
    me.assert_fits("the promoter terms")
    me.press(page.locator("#become-promoter"))  # without the terms ticked: refused, saying why
    expect(page.locator(".notification").filter(has_text="请先接受推广员条款。")).to_be_visible()
    page.locator("#accept-terms").check()
    me.press(page.locator("#become-promoter"))
    expect(page.locator("#promoter-code")).to_be_visible()
    me.assert_fits("the promoter centre")
    shoot(page, "referral-01-centre")

    page.goto(f"{live_server}/me/shop/{sku_id}")
    me.press(page.locator("#share-product"))
    expect(page.locator("#share-rate")).to_contain_text("10%")
    poster = page.locator("#poster")
    expect(poster).to_be_visible()
    page.wait_for_function("() => document.querySelector('#poster').complete")
    assert page.evaluate("document.querySelector('#poster').naturalWidth") == 750  # a real PNG came back
    me.assert_fits("the share page with its poster")
    shoot(page, "referral-02-poster")
    share_url = page.locator("#share-url").input_value()
    assert re.fullmatch(re.escape(live_server) + r"/me/s/[A-Z0-9]+/" + str(sku_id), share_url)

    # the friend opens the link in a browser of their own, signs in, buys and pays
    friend_buys_through(browser, device, share_url, friend_email, live_server, paygate, sku_id, "CNY 30.00",
                        settle_payments, shoot=shoot)

    # the promoter sees the click, the referred order and the commission pending
    page.goto(f"{live_server}/me/promote")
    expect(page.locator("#clicks")).to_have_text("1")
    expect(page.locator(".referred-order")).to_have_count(1)
    expect(page.locator(".referred-order")).to_contain_text("已推荐")
    expect(page.locator("#pending")).to_have_text("¥3.00")
    expect(page.locator(".commission[data-status=pending]")).to_contain_text("¥3.00")
    me.assert_fits("the promoter centre with a commission")
    shoot(page, "referral-04-pending")

    # the refund window passes: the job pays it into the wallet
    with app.app_context():
        db.session.execute(sa.update(Commission).values(due_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert commissions.mature() == 1
    page.reload()
    expect(page.locator("#available")).to_have_text("¥3.00")
    expect(page.locator("#withdraw-form")).to_be_visible()
    me.assert_fits("the promoter centre with money to withdraw")
    shoot(page, "referral-05-available")
