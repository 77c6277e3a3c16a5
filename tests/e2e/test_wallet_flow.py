"""A consumer, in a real browser (desktop and a 375 px phone), tops up the wallet with a stored-value card
with a bonus (pay ¥100, get ¥110) on the gateway, then buys a ¥150 benefit paying ¥110 from the wallet and the
remaining ¥40 on the gateway; the order page shows the split and the wallet its history."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.loyalty_steps import pay_on_gateway
from tests.loyalty.wallet_support import product
from tests.support.browser import Person

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


def test_top_up_with_a_bonus_then_pay_with_wallet_plus_gateway(app, page, device, live_server, paygate, make_user,
                                                               make_sku, stock, shoot, settle_payments):
    me = Person(page, device)
    email = f"wallet-{device}@t.example"
    make_user("consumer", email=email)
    wanted = "爱奇艺 黄金会员 季卡"
    sku_id = make_sku(price="150.00", face="150.00", brand="爱奇艺", name=wanted)
    stock(sku_id, n=2)
    with app.app_context():
        card_id = product(name="充100送10", fixed="100.00", step="100.00", bonus="10.00")

    page.goto(live_server + "/login")
    me.log_in(email)
    me.switch_language("en")
    me.nav("/me/wallet")
    expect(page.locator("#wallet-balance")).to_have_text("¥0.00")
    expect(page.locator(f".topup-card[data-product='{card_id}']")).to_contain_text("Get ¥10.00 extra for every ¥100.00")
    me.assert_fits("the wallet page")
    shoot(page, "wallet-01-empty")
    me.press(page.locator(f"#topup-{card_id}"))
    pay_on_gateway(me, paygate, "CNY 100.00", settle_payments, f"{live_server}/me/wallet")
    expect(page.locator("#wallet-balance")).to_have_text("¥110.00")
    expect(page.locator(".wallet-line")).to_have_count(2)
    me.assert_fits("the wallet after a top-up")
    shoot(page, "wallet-02-topped-up")

    me.nav("/me/shop")
    me.press(page.locator(".product-card").filter(has_text=wanted))
    expect(page.locator("h1.title")).to_have_text(wanted)
    expect(page.locator("#wallet-option")).to_contain_text("Use wallet balance (¥110.00)")
    expect(page.locator("#use-wallet")).to_be_checked()
    me.assert_fits("the product page with the wallet")
    me.press(page.locator("#buy"))
    pay_on_gateway(me, paygate, "CNY 40.00", settle_payments, f"{live_server}/me/orders/{{no}}")
    expect(page.locator("#wallet-paid")).to_contain_text("¥110.00")
    expect(page.locator("#gateway-part")).to_have_text("¥40.00")
    me.assert_fits("the order paid by wallet and gateway")
    shoot(page, "wallet-03-order")

    me.nav("/me/wallet")
    expect(page.locator("#wallet-balance")).to_have_text("¥0.00")
    expect(page.locator(".wallet-line[data-kind=wallet_pay]")).to_contain_text("-¥110.00")


def test_buy_a_gift_card_reveal_its_code_and_redeem_it(app, page, device, live_server, paygate, make_user, shoot,
                                                       settle_payments):
    me = Person(page, device)
    email = f"gift-{device}@t.example"
    make_user("consumer", email=email)

    page.goto(live_server + "/login")
    me.log_in(email)
    me.switch_language("en")
    me.nav("/me/wallet")
    me.press(page.locator("#to-gift-cards"))
    page.locator("#gift-amount").fill("66")
    me.press(page.locator("#buy-gift"))
    pay_on_gateway(me, paygate, "CNY 66.00", settle_payments, f"{live_server}/me/wallet/gifts")
    card = page.locator(".gift-card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("****-****-****-")
    me.press(card.locator(".reveal-gift"))
    code = card.locator(".gift-code")
    expect(code).to_have_text(re.compile(r"^[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}$"))
    me.assert_fits("my gift cards")
    shoot(page, "wallet-04-gift")
    text = code.inner_text()

    me.nav("/me/wallet")
    page.locator("#gift-code").fill(text.lower())
    me.press(page.locator("#redeem"))
    expect(page.locator(".notification").filter(has_text="Redeemed: ¥66.00 added to your wallet.")).to_be_visible()
    expect(page.locator("#wallet-balance")).to_have_text("¥66.00")
    page.locator("#gift-code").fill(text)
    me.press(page.locator("#redeem"))
    expect(page.locator(".notification").filter(has_text="This gift code was already used.")).to_be_visible()
    expect(page.locator("#wallet-balance")).to_have_text("¥66.00")
    me.assert_fits("the wallet after redeeming")
