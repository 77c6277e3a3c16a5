"""The buyer's coupons in the benefit center: the claim centre, my coupons, the product page's coupon choice,
checkout with a coupon, the order's discount line, exchange codes (rate-limited), refusals in the buyer's
language."""

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.marketing import coupons
from app.marketing.models import Coupon
from app.orders.models import Order
from tests.support.marketing import make_campaign, make_template


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def shop(app, make_sku, stock):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 5)
    with app.app_context():
        campaign = make_campaign()
        flat = make_template(campaign, amount=300, name="立减券")
        big = make_template(campaign, kind="threshold", amount=1000, threshold=5000, name="满减券")
    return {"sku": sku_id, "flat": flat, "big": big}


def test_claim_in_the_centre_and_see_it_in_my_coupons(client_as, shop, peek):
    c, uid = client_as()
    page = text(c.get("/me/coupons/centre"))
    assert f'data-template="{shop["flat"]}"' in page and "¥3.00 off" in page
    resp = c.post(f"/me/coupons/{shop['flat']}/claim")
    assert resp.status_code == 303
    page = text(c.get(resp.headers["Location"]))
    assert "Coupon claimed: ¥3.00 off." in page and "Claimed" in page
    resp = c.post(f"/me/coupons/{shop['flat']}/claim")  # per-user limit 1
    assert "as many of these coupons as one person may hold" in text(c.get(resp.headers["Location"]))
    mine = text(c.get("/me/coupons"))
    assert mine.count('class="box my-coupon"') == 1 and "Ready to use (1)" in mine
    assert peek.count(Coupon, Coupon.holder_id == uid) == 1


def test_the_product_page_suggests_the_best_coupon_and_checkout_uses_it(app, client_as, shop, peek):
    c, uid = client_as()
    c.post(f"/me/coupons/{shop['flat']}/claim")
    c.post(f"/me/coupons/{shop['big']}/claim")
    page = text(c.get(f"/me/shop/{shop['sku']}"))
    assert 'id="coupon"' in page and 'id="to-pay">¥27.00' in page  # only the ¥3 one applies to one unit
    frag = text(c.get(f"/me/shop/{shop['sku']}/coupons", query_string={"quantity": 2}, headers={"HX-Request": "true"}))
    big_id = peek(lambda: db.session.scalar(sa.select(Coupon.id).where(Coupon.template_id == shop["big"],
                                                                            Coupon.holder_id == uid)))
    assert re.search(rf'<option value="{big_id}" selected>', frag) and 'id="to-pay">¥50.00' in frag
    frag = text(c.get(f"/me/shop/{shop['sku']}/coupons", query_string={"quantity": 2, "coupon": ""}))
    assert 'id="to-pay">¥60.00' in frag and 'id="coupon-saving"' not in frag
    resp = c.post(f"/me/shop/{shop['sku']}/buy", data={"quantity": "2", "coupon": str(big_id)})
    assert resp.status_code == 303
    order = peek.first(sa.select(Order))
    assert (order.discount_fen, order.amount_fen) == (1000, 5000)
    page = text(c.get(f"/me/orders/{order.order_no}"))
    assert 'class="discount-line"' in page and "¥10.00 off orders from ¥50.00" in page and "−¥10.00" in page
    assert "Used (1)" in text(c.get("/me/coupons?status=used"))


def test_a_used_coupon_is_refused_in_chinese_and_nothing_is_charged(app, client, login_as, shop, peek):
    uid = login_as("consumer")
    with app.app_context():
        from app.accounts.models import User

        cid = coupons.claim(db.session.get(User, uid), shop["flat"]).id
    assert client.post(f"/me/shop/{shop['sku']}/buy", data={"quantity": "1", "coupon": str(cid)}).status_code == 303
    resp = client.post(f"/me/shop/{shop['sku']}/buy", data={"quantity": "1", "coupon": str(cid)})
    assert resp.headers["Location"].endswith(f"/me/shop/{shop['sku']}")
    assert "此券已使用。" in text(client.get(resp.headers["Location"]))
    assert peek.count(Order) == 1


def test_exchange_codes_redeem_once_and_guessing_is_rate_limited(app, client_as, shop, peek):
    with app.app_context():
        batch = coupons.generate_codes(None, shop["flat"], 2)
        [(code, _), _second] = coupons.export_codes(None, shop["flat"], batch)
    c, uid = client_as()
    resp = c.post("/me/coupons/redeem", data={"code": code})
    assert resp.headers["Location"].endswith("/me/coupons")
    assert "Code redeemed: ¥3.00 off." in text(c.get(resp.headers["Location"]))
    other, _ = client_as()
    resp = other.post("/me/coupons/redeem", data={"code": code})
    assert "This exchange code has already been used." in text(other.get(resp.headers["Location"]))
    app.config["COUPON_CODE_RATE_LIMIT"] = "3 per minute"
    try:
        codes = [other.post("/me/coupons/redeem", data={"code": "WRONG-CODE"}).status_code for _ in range(4)]
    finally:
        app.config.pop("COUPON_CODE_RATE_LIMIT")
    assert codes[:2] == [303, 303] and codes[-1] == 429
    assert peek.count(Coupon, Coupon.holder_id.is_not(None)) == 1
