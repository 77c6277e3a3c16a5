"""Cross-sell in a real browser (issue 16): a buyer pays for a video membership, sees "goes well with your
purchase" on the order page with the add-on price ops attached, and buys QQ音乐 at that price. Desktop and phone."""

import re

import pytest
from playwright.sync_api import expect

from app.marketing import offers
from tests.support.browser import Person
from tests.support.marketing_offers import make_campaign

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


def test_a_buyer_adds_the_cross_sell_at_its_price(app, page, device, live_server, paygate, make_user, make_sku,
                                                  stock, shoot, settle_payments):
    me = Person(page, device)
    email = f"cross-{device}@t.example"
    make_user("consumer", email=email)
    anchor = make_sku(price="30.00", name="腾讯视频 VIP 月卡")
    add_on = make_sku(price="15.00", face="15.00", brand="QQ音乐", name="QQ音乐 豪华绿钻 月卡")
    stock(anchor, n=2)
    stock(add_on, n=2)
    with app.app_context():
        offers.create_pin(None, make_campaign(), anchor, add_on, price_fen=1000)

    page.goto(live_server + "/login")
    me.log_in(email)
    me.nav("/me/shop")
    me.press(page.locator(".product-card").filter(has_text="腾讯视频 VIP 月卡"))
    expect(page.locator("#often-bought")).to_contain_text("QQ音乐 豪华绿钻 月卡")
    me.assert_fits("the product page with its recommendations")
    me.press(page.locator("#buy"))

    expect(page).to_have_url(re.compile("^" + re.escape(paygate) + "/checkout"))
    expect(page.locator("#amount")).to_have_text("CNY 30.00")
    order_no = page.locator("#out-trade-no").inner_text().strip()
    settle_payments.append(order_no)
    me.press(page.locator("#pay"))

    expect(page).to_have_url(re.compile(re.escape(f"{live_server}/me/orders/{order_no}") + "$"))
    expect(page.locator("#order-status [data-status=delivered]")).to_be_visible()
    offer = page.locator("#cross-sell .cross-sell-item").filter(has_text="QQ音乐 豪华绿钻 月卡")
    button = offer.locator("button.add-on")
    expect(button).to_contain_text("¥10.00")
    me.assert_fits("the order page with the cross-sell")
    shoot(page, "offers-01-order-cross-sell")
    me.press(button)

    expect(page).to_have_url(re.compile("^" + re.escape(paygate) + "/checkout"))
    expect(page.locator("#amount")).to_have_text("CNY 10.00")  # the add-on price, not ¥15.00
    second = page.locator("#out-trade-no").inner_text().strip()
    settle_payments.append(second)
    me.press(page.locator("#pay"))

    expect(page).to_have_url(re.compile(re.escape(f"{live_server}/me/orders/{second}") + "$"))
    expect(page.locator("#order-status [data-status=delivered]")).to_be_visible()
    expect(page.locator(".order-discount[data-source=cross_sell]")).to_contain_text("¥10.00")
    shoot(page, "offers-02-add-on-delivered")
    page.goto(f"{live_server}/me/orders/{order_no}")  # back to the first order: the add-on price is used
    expect(page.locator("#cross-sell")).to_contain_text("QQ音乐 豪华绿钻 月卡")
    expect(page.locator("#cross-sell button.add-on")).to_have_count(0)
