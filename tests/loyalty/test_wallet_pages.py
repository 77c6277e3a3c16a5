"""The wallet's pages: the consumer's wallet, top-up, gift cards (buy, reveal, redeem, its rate limit), paying an
order from the wallet on the buy page and the order page; ops' Members → Wallet pages and who may see them."""

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.loyalty.models.wallet import StoredValueProduct, WalletPurchase
from app.orders.models import Order
from app.payments import wallet
from tests.loyalty.wallet_support import fund, gift, pay, product


def _purchase(peek, uid) -> WalletPurchase:
    return peek.first(sa.select(WalletPurchase).where(WalletPurchase.user_id == uid).order_by(WalletPurchase.id.desc()))


def test_the_wallet_page_shows_balance_history_and_cards(client_as, app, peek):
    c, uid = client_as()
    with app.app_context():
        fund(uid, 12345)
        product()
    page = c.get("/me/wallet")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "¥123.45" in html and 'id="wallet-balance"' in html and "充100送10" in html
    assert 'data-kind="commission"' in html


def test_topping_up_goes_to_the_gateway_and_comes_back_credited(client_as, app, peek):
    c, uid = client_as()
    with app.app_context():
        pid = product()
    resp = c.post("/me/wallet/topup", data={"product": pid})
    assert resp.status_code == 303 and "/checkout" in resp.location
    p = _purchase(peek, uid)
    assert (p.amount_fen, p.bonus_fen, p.status) == (10000, 1000, "created")
    with app.app_context():
        assert pay(p.out_trade_no, p.amount_fen) == "applied"
    back = c.get(f"/me/wallet/purchases/{p.id}/return", follow_redirects=True)
    assert "Payment received: ¥100.00." in back.get_data(as_text=True)
    assert peek(lambda: wallet.balance(uid)) == 11000


def test_a_refused_top_up_says_why_and_starts_nothing(client_as, app, peek):
    c, uid = client_as()
    with app.app_context():
        pid = product(name="自选", fixed="", minimum="50", maximum="2000", step="", bonus="")
    page = c.post("/me/wallet/topup", data={"product": pid, "amount": "20"}, follow_redirects=True)
    assert "Choose an amount between ¥50.00 and ¥2,000.00." in page.get_data(as_text=True)
    assert peek.count(WalletPurchase) == 0


def test_another_users_purchase_return_is_404(client_as, app):
    c, uid = client_as()
    other, _ = client_as()
    c.post("/me/wallet/gifts", data={"amount": "20"})
    with app.app_context():
        pid = db.session.scalar(sa.select(WalletPurchase.id).where(WalletPurchase.user_id == uid))
    assert other.get(f"/me/wallet/purchases/{pid}/return").status_code == 404


def test_gift_cards_are_shown_masked_and_revealed_to_the_buyer_only(client_as, app, peek):
    c, uid = client_as()
    other, _ = client_as()
    with app.app_context():
        card, code = gift(uid, "66.00")
        card_id, masked = card.id, card.masked
    page = c.get("/me/wallet/gifts").get_data(as_text=True)
    assert masked in page and code not in page
    resp = c.post(f"/me/wallet/gifts/{card_id}/reveal", headers={"HX-Request": "true"})
    shown = resp.get_data(as_text=True)
    assert code in shown and "<html" not in shown and resp.headers["Cache-Control"] == "no-store"
    assert code in c.post(f"/me/wallet/gifts/{card_id}/reveal").get_data(as_text=True)  # without htmx: the page
    assert other.post(f"/me/wallet/gifts/{card_id}/reveal").status_code == 404


def test_redeeming_a_code_credits_the_wallet_and_a_second_try_says_used(client_as, app, peek):
    _, buyer_id = client_as()
    c, uid = client_as()
    with app.app_context():
        card, code = gift(buyer_id, "30.00")
    page = c.post("/me/wallet/redeem", data={"code": code}, follow_redirects=True).get_data(as_text=True)
    assert "Redeemed: ¥30.00 added to your wallet." in page
    again = c.post("/me/wallet/redeem", data={"code": code}, follow_redirects=True).get_data(as_text=True)
    assert "This gift code was already used." in again
    unknown = c.post("/me/wallet/redeem", data={"code": "AAAA-BBBB-CCCC-DDDD"}, follow_redirects=True)
    assert "This gift code does not exist. Check it and try again." in unknown.get_data(as_text=True)
    assert peek(lambda: wallet.balance(uid)) == 3000


def test_redemption_attempts_are_rate_limited(client_as, app, peek):
    c, uid = client_as()
    app.config["WALLET_REDEEM_RATE_LIMIT"] = "3 per hour"
    try:
        codes = [c.post("/me/wallet/redeem", data={"code": f"ZZZZ-ZZZZ-ZZZZ-ZZZ{n}"}).status_code for n in range(5)]
    finally:
        app.config["WALLET_REDEEM_RATE_LIMIT"] = "10000 per minute"
    assert codes[:3] == [303, 303, 303] and codes[3:] == [429, 429]
    assert peek(lambda: wallet.balance(uid)) == 0


@pytest.fixture
def sku(make_sku, stock):
    sku_id = make_sku(price="28.00")
    stock(sku_id, 4)
    return sku_id


def test_the_buy_page_offers_the_wallet_and_a_covered_order_is_paid_at_once(client_as, app, peek, sku):
    c, uid = client_as()
    assert "use-wallet" not in c.get(f"/me/shop/{sku}").get_data(as_text=True)  # nothing in the wallet
    with app.app_context():
        fund(uid, 5000)
    assert "Use wallet balance (¥50.00)" in c.get(f"/me/shop/{sku}").get_data(as_text=True)
    resp = c.post(f"/me/shop/{sku}/buy", data={"quantity": "1", "use_wallet": "1"})
    assert resp.status_code == 303 and "/me/orders/" in resp.location and "/pay" not in resp.location
    order = peek.first(sa.select(Order).where(Order.buyer_id == uid))
    assert order.status == "delivered" and order.wallet_fen == 2800
    assert peek(lambda: wallet.balance(uid)) == 2200


def test_a_part_covered_order_sends_the_rest_to_the_gateway(client_as, app, peek, sku):
    c, uid = client_as()
    with app.app_context():
        fund(uid, 1000)
    resp = c.post(f"/me/shop/{sku}/buy", data={"quantity": "1", "use_wallet": "1"})
    assert resp.location.endswith("/pay")
    order = peek.first(sa.select(Order).where(Order.buyer_id == uid))
    page = c.get(f"/me/orders/{order.order_no}").get_data(as_text=True)
    assert 'id="wallet-paid"' in page and "¥18.00" in page and 'id="use-wallet"' not in page


def test_the_order_page_applies_the_wallet_later(client_as, app, peek, sku):
    c, uid = client_as()
    c.post(f"/me/shop/{sku}/buy", data={"quantity": "1"})
    order = peek.first(sa.select(Order).where(Order.buyer_id == uid))
    assert 'id="use-wallet"' not in c.get(f"/me/orders/{order.order_no}").get_data(as_text=True)
    with app.app_context():
        fund(uid, 3000)
    assert 'id="use-wallet"' in c.get(f"/me/orders/{order.order_no}").get_data(as_text=True)
    page = c.post(f"/me/orders/{order.order_no}/wallet", follow_redirects=True).get_data(as_text=True)
    assert "¥28.00 paid from your wallet." in page
    assert peek.get(Order, order.id).status == "delivered"
    refused = c.post(f"/me/orders/{order.order_no}/wallet", follow_redirects=True).get_data(as_text=True)
    assert "This order is no longer waiting for payment." in refused
    assert peek(lambda: wallet.balance(uid)) == 200


@pytest.mark.parametrize("role", ["consumer", "finance", "reseller"])
def test_members_wallet_pages_are_for_ops_only(client_as, role):
    c, _ = client_as(role)
    for url in ("/ops/members/", "/ops/members/wallet/cards", "/ops/members/wallet/gift-cards",
                "/ops/members/wallet/lookup"):
        assert c.get(url).status_code in (302, 403), url


def test_ops_create_a_card_see_gift_cards_masked_and_look_up_a_wallet(client_as, app, peek, make_user):
    c, _ = client_as("ops")
    # The Members section opens on its first tab; this part's page is among its tabs.
    assert 'href="/ops/members/wallet/cards"' in c.get(c.get("/ops/members/").location).get_data(as_text=True)
    bad = c.post("/ops/members/wallet/cards", data={"name": "", "fixed": "", "minimum": "", "maximum": ""})
    assert bad.status_code == 422 and "Give the card a name" in bad.get_data(as_text=True)
    assert peek.count(StoredValueProduct) == 0
    ok = c.post("/ops/members/wallet/cards", data={"name": "充200送30", "fixed": "200", "bonus_step": "200",
                                                   "bonus": "30", "active": "1"})
    assert ok.status_code == 303
    p = peek.first(sa.select(StoredValueProduct))
    assert (p.amount_fen, p.bonus_step_fen, p.bonus_fen, p.active) == (20000, 20000, 3000, True)
    assert "充200送30" in c.get("/ops/members/wallet/cards").get_data(as_text=True)
    buyer = make_user(email="giver@t.example")
    with app.app_context():
        card, code = gift(buyer, "25.00")
        last4, masked = card.last4, card.masked
        fund(buyer, 700)
    listing = c.get(f"/ops/members/wallet/gift-cards?last4={last4}").get_data(as_text=True)
    assert masked in listing and code not in listing
    found = c.get("/ops/members/wallet/lookup?email=giver@t.example").get_data(as_text=True)
    assert 'id="lookup-balance">¥7.00' in found
    assert 'id="lookup-none"' in c.get("/ops/members/wallet/lookup?email=nobody@t.example").get_data(as_text=True)


def test_ops_edit_a_card_and_take_it_off_sale(client_as, app, peek):
    c, _ = client_as("ops")
    with app.app_context():
        pid = product(name="充50", fixed="50", step="", bonus="")
    form = c.get(f"/ops/members/wallet/cards/{pid}").get_data(as_text=True)
    assert 'value="50.00"' in form and "充50" in form
    bad = c.post(f"/ops/members/wallet/cards/{pid}", data={"name": "充50", "fixed": "", "minimum": "300",
                                                         "maximum": "200"})
    assert bad.status_code == 422 and 'id="card-minimum-error"' in bad.get_data(as_text=True)
    assert peek.get(StoredValueProduct, pid).amount_fen == 5000
    ok = c.post(f"/ops/members/wallet/cards/{pid}", data={"name": "自选", "fixed": "", "minimum": "50",
                                                        "maximum": "500", "bonus_step": "", "bonus": ""})
    assert ok.status_code == 303
    p = peek.get(StoredValueProduct, pid)
    assert (p.name, p.amount_fen, p.min_fen, p.max_fen, p.active) == ("自选", None, 5000, 50000, False)
    consumer, _ = client_as()
    assert "自选" not in consumer.get("/me/wallet").get_data(as_text=True)  # off sale
    assert c.get("/ops/members/wallet/cards/99999").status_code == 404


def test_a_cancelled_part_wallet_order_says_the_wallet_part_came_back(client_as, app, peek, sku):
    c, uid = client_as()
    with app.app_context():
        fund(uid, 1000)
    c.post(f"/me/shop/{sku}/buy", data={"quantity": "1", "use_wallet": "1"})
    order = peek.first(sa.select(Order).where(Order.buyer_id == uid))
    page = c.post(f"/me/orders/{order.order_no}/cancel", follow_redirects=True).get_data(as_text=True)
    assert "What your wallet paid went back to your wallet." in page
    assert peek(lambda: wallet.balance(uid)) == 1000
