"""Two buyers complete a group buy in real browsers: one opens a group from the product page and pays on the
sandbox gateway, waits for the group; the other opens the shared link, logs in, joins and pays; both see their
benefit delivered. At desktop width and on a 375 px phone."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import VIEWPORTS
from tests.support.browser import Person
from tests.support.marketing_groups import make_offer

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


def pay_on_gateway(me: Person, paygate: str, amount: str, settle_payments: list) -> str:
    page = me.page
    expect(page).to_have_url(re.compile("^" + re.escape(paygate) + "/checkout"))
    expect(page.locator("#amount")).to_have_text(f"CNY {amount}")
    order_no = page.locator("#out-trade-no").inner_text().strip()
    settle_payments.append(order_no)
    me.press(page.locator("#pay"))
    return order_no


def test_two_buyers_complete_a_group_buy(app, page, browser, device, live_server, paygate, make_user, make_sku,
                                          stock, shoot, settle_payments):
    leader_email, friend_email = f"leader-{device}@t.example", f"friend-{device}@t.example"
    make_user("consumer", email=leader_email)
    make_user("consumer", email=friend_email)
    sku_id = make_sku(price="30.00", face="30.00", brand="QQ音乐", name="QQ音乐 豪华绿钻 月卡")
    stock(sku_id, n=3)
    with app.app_context():
        make_offer(sku_id, price_fen=1990, size=2, hours=24)

    leader = Person(page, device)
    page.goto(f"{live_server}/login")
    leader.log_in(leader_email)
    page.goto(f"{live_server}/me/shop/{sku_id}")
    expect(page.locator("#group-buy")).to_contain_text("2人团")
    expect(page.locator("#group-price")).to_have_text("¥19.90")
    leader.assert_fits("the product page with its group buy")
    shoot(page, "group-01-sku")
    leader.press(page.locator("#open-group"))
    first = pay_on_gateway(leader, paygate, "19.90", settle_payments)

    expect(page).to_have_url(re.compile(re.escape(f"{live_server}/me/orders/{first}") + "$"))
    expect(page.locator("#group-wait")).to_contain_text("等待成团")
    shoot(page, "group-02-waiting")
    leader.press(page.locator("#group-link"))
    expect(page).to_have_url(re.compile(r"/me/groups/\d+$"))
    expect(page.locator("#seats-left")).to_contain_text("还差 1 人")
    expect(page.locator("#share-qr svg")).to_be_visible()
    leader.assert_fits("the group page")
    shoot(page, "group-03-share")
    share_url = page.locator("#share-url").input_value()
    assert share_url == page.url

    # the friend opens the shared link in a browser of their own, logs in, joins and pays
    context = browser.new_context(locale="zh-CN", **VIEWPORTS[device])
    context.set_default_timeout(15_000)
    try:
        friend_page = context.new_page()
        friend = Person(friend_page, device)
        friend_page.goto(share_url)
        expect(friend_page.locator("#seats")).to_contain_text("团长")
        friend.press(friend_page.locator("#join-group-login"))
        friend.log_in(friend_email, lands_on=share_url.removeprefix(live_server))
        friend.press(friend_page.locator("#join-group"))
        second = pay_on_gateway(friend, paygate, "19.90", settle_payments)
        expect(friend_page).to_have_url(re.compile(re.escape(f"{live_server}/me/orders/{second}") + "$"))
        expect(friend_page.locator("#order-status [data-status=delivered]")).to_be_visible()
        friend.assert_fits("the friend's order page")
        shoot(friend_page, "group-04-friend-delivered")
    finally:
        context.close()

    # the leader's benefit was delivered with the last payment
    page.goto(f"{live_server}/me/orders/{first}")
    expect(page.locator("#order-status [data-status=delivered]")).to_be_visible()
    expect(page.locator("#group-wait")).to_have_count(0)
    leader.press(page.locator("#to-benefits"))
    expect(page.locator(".benefit-card")).to_have_count(1)
    shoot(page, "group-05-leader-benefits")
