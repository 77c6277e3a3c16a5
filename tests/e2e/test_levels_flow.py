"""A member, in a real browser on a 375 px phone: the benefit center's level page shows the level, the growth
value, the progress to the next level and what each level unlocks; the shop shows the member price, the member
buys at it on the gateway, and the order page shows the member-price line. Then the paid order's growth value
shows on the level page."""

import re

import pytest
from playwright.sync_api import expect

from app.loyalty import levels
from tests.support.browser import Person

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


@pytest.mark.parametrize("device", ["phone"])
def test_level_page_and_member_price(app, page, device, live_server, paygate, make_user, make_sku, stock, shoot,
                                     settle_payments):
    me = Person(page, device)
    email = f"member-{device}@t.example"
    uid = make_user("consumer", email=email)
    ops = make_user("ops")
    wanted = "腾讯视频 VIP 月卡"
    sku_id = make_sku(price="100.00", face="100.00", name=wanted)
    stock(sku_id, n=2)
    with app.app_context():
        levels.save_level(ops, name="白银", badge="V1", threshold=100, discount_pct=95)
        levels.save_level(ops, name="黄金", badge="V2", threshold=500, discount_pct=90)
        levels.adjust(ops, uid, 300, "welcome")

    page.goto(live_server + "/login")
    me.log_in(email)
    me.switch_language("en")
    me.nav("/me/level")
    expect(page.locator("#level-name")).to_contain_text("白银")
    expect(page.locator("#growth-value")).to_have_text("300")
    expect(page.locator("#level-progress")).to_have_attribute("value", "50")
    expect(page.locator("#level-next")).to_contain_text("200 more to reach 黄金")
    expect(page.locator(".level-card[data-level=黄金] .unlocks")).to_contain_text("Member price: 90% of the list price")
    me.assert_fits("the level page")
    shoot(page, "levels-01-level")

    me.nav("/me/shop")
    card = page.locator(".product-card").filter(has_text=wanted)
    expect(card.locator(".member-price")).to_contain_text("¥95.00")
    me.press(card)
    expect(page.locator("#member-price")).to_contain_text("¥95.00")
    me.assert_fits("the product page with a member price")
    shoot(page, "levels-02-sku")
    me.press(page.locator("#buy"))

    expect(page).to_have_url(re.compile("^" + re.escape(paygate) + "/checkout"))
    expect(page.locator("#amount")).to_have_text("CNY 95.00")
    order_no = page.locator("#out-trade-no").inner_text().strip()
    settle_payments.append(order_no)
    me.press(page.locator("#pay"))
    expect(page).to_have_url(re.compile(re.escape(f"{live_server}/me/orders/{order_no}") + "$"))
    expect(page.locator(".discount-line")).to_contain_text("−¥5.00")
    me.assert_fits("the order page")

    me.nav("/me/level")
    expect(page.locator("#growth-value")).to_have_text("395")
    shoot(page, "levels-03-after")
