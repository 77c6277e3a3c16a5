"""A buyer, in a real browser (desktop and a 375 px phone), claims a coupon in the claim centre, sees it
suggested on the product page once the order reaches its threshold, with the saving and the lower price to pay,
and pays that price on the gateway; the order page shows the discount line."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import Person
from tests.support.marketing import make_template

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


def test_claim_a_coupon_and_see_it_applied_at_checkout(app, page, device, live_server, paygate, make_user, make_sku,
                                                        stock, shoot, settle_payments):
    me = Person(page, device)
    email = f"coupon-{device}@t.example"
    make_user("consumer", email=email)
    wanted = "QQ音乐 豪华绿钻 月卡"
    sku_id = make_sku(price="28.00", face="30.00", brand="QQ音乐", name=wanted)
    stock(sku_id, n=3)
    with app.app_context():
        make_template(kind="threshold", amount=500, threshold=5000, name="满50减5")

    page.goto(live_server + "/login")
    me.log_in(email)
    me.switch_language("en")
    me.nav("/me/coupons/centre")
    offer = page.locator(".coupon-offer")
    expect(offer).to_have_count(1)
    expect(offer.locator(".coupon-what")).to_have_text("¥5.00 off orders from ¥50.00")
    me.press(offer.locator(".claim-button"))
    expect(page.locator(".notification, .message").filter(has_text="Coupon claimed")).to_be_visible()
    expect(offer.locator(".tag")).to_have_text("Claimed")
    me.assert_fits("the claim centre")
    shoot(page, "coupon-01-centre")

    me.nav("/me/shop")
    me.press(page.locator(".product-card").filter(has_text=wanted))
    expect(page.locator("h1.title")).to_have_text(wanted)
    expect(page.locator("#coupon-none")).to_be_visible()  # one unit: ¥28 is under the ¥50 threshold
    me.settled()
    page.locator("#quantity").fill("2")
    page.locator("#quantity").press("Tab")
    expect(page.locator("#coupon option:checked")).to_contain_text("¥5.00 off orders from ¥50.00")
    expect(page.locator("#coupon-saving")).to_have_text("¥5.00")
    expect(page.locator("#to-pay")).to_have_text("¥51.00")
    me.assert_fits("the product page with a coupon")
    shoot(page, "coupon-02-sku")
    me.press(page.locator("#buy"))

    expect(page).to_have_url(re.compile("^" + re.escape(paygate) + "/checkout"))
    expect(page.locator("#amount")).to_have_text("CNY 51.00")
    order_no = page.locator("#out-trade-no").inner_text().strip()
    settle_payments.append(order_no)
    me.press(page.locator("#pay"))
    expect(page).to_have_url(re.compile(re.escape(f"{live_server}/me/orders/{order_no}") + "$"))
    expect(page.locator(".discount-line")).to_contain_text("−¥5.00")
    me.assert_fits("the order page")
    shoot(page, "coupon-03-order")

    me.nav("/me/coupons/centre")
    me.press(page.locator("#to-my-coupons"))
    expect(page.locator("#coupon-tabs [data-tab=used]")).to_have_text("Used (1)")
    me.assert_fits("my coupons")
