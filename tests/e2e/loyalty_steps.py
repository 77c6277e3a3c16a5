"""Steps the loyalty browser tests share (the per-part flows and the whole journey): paying on the sandbox
gateway's checkout page, subscribing to a plan by signing the sandbox's agreement, a friend buying through a
share link in a browser of their own."""

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import VIEWPORTS
from tests.support.browser import Person


def pay_on_gateway(me: Person, paygate: str, amount: str, settle_payments: list[str], back_to: str) -> str:
    """On the gateway's checkout page: check the amount ("CNY 40.00"), pay, land on `back_to` (a URL; "{no}"
    stands for the trade number). Returns the trade number."""
    page = me.page
    expect(page).to_have_url(re.compile("^" + re.escape(paygate) + "/checkout"))
    expect(page.locator("#amount")).to_have_text(amount)
    trade_no = page.locator("#out-trade-no").inner_text().strip()
    settle_payments.append(trade_no)
    me.press(page.locator("#pay"))
    expect(page).to_have_url(re.compile(re.escape(back_to.format(no=trade_no)) + "$"))
    return trade_no


def subscribe_and_sign(me: Person, live_server: str, paygate: str, sku_name: str, price: str, plan: str,
                       on_product_page=None) -> None:
    """From the shop, open the product, press subscribe ("¥19.90 / month"), sign on the gateway's agreement
    page and land on "my subscriptions" with the subscription active. `on_product_page()`, if given, runs on the
    product page before subscribing (a layout check, a screenshot)."""
    page = me.page
    me.nav("/me/shop")
    me.press(page.locator(".product-card").filter(has_text=sku_name))
    panel = page.locator("#subscribe-panel")
    expect(panel.locator(".subscribe-button")).to_contain_text(price)
    if on_product_page is not None:
        on_product_page()
    me.press(panel.locator(".subscribe-button"))
    expect(page).to_have_url(re.compile("^" + re.escape(paygate) + "/agreement/sign"))
    expect(page.locator("#plan")).to_contain_text(plan)
    me.press(page.locator("#sign"))
    expect(page).to_have_url(re.compile(re.escape(f"{live_server}/me/subscriptions") + "$"))
    expect(page.locator(".subscription .subscription-status")).to_have_text("Active")


def friend_buys_through(browser, device: str, share_url: str, email: str, live_server: str, paygate: str,
                        sku_id: int, amount: str, settle_payments: list[str], shoot=None) -> str:
    """A friend opens `share_url` in a browser context of their own (zh_CN), signs in from the product page,
    buys and pays on the gateway. Returns the order number."""
    context = browser.new_context(locale="zh-CN", **VIEWPORTS[device])
    context.set_default_timeout(15_000)
    try:
        friend_page: Page = context.new_page()
        friend = Person(friend_page, device)
        friend_page.goto(share_url)
        expect(friend_page).to_have_url(f"{live_server}/me/shop/{sku_id}")
        friend.press(friend_page.get_by_role("link", name="登录后购买"))
        friend.log_in(email, lands_on=f"/me/shop/{sku_id}")
        friend.press(friend_page.locator("#buy"))
        order_no = pay_on_gateway(friend, paygate, amount, settle_payments, f"{live_server}/me/orders/{{no}}")
        if shoot is not None:
            shoot(friend_page, "referral-03-friend-paid")
        return order_no
    finally:
        context.close()
