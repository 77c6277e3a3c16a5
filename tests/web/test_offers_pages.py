"""Offers in the consumer portal and the ops console (issue 16): the product page's offers, the order page's gift
and cross-sell, buying at the add-on price (and its refusal, in the buyer's language), the ops offers page."""

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.marketing import offers
from app.marketing.models import CrossSellPin, FirstOrderOffer, GiftOffer
from app.orders.models import Order
from tests.support.marketing_offers import make_campaign
from tests.support.payments import notice


def text(resp) -> str:
    return resp.get_data(as_text=True)


def _buy(app, client, sku_id: int, **form) -> Order:
    resp = client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1", **form})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/pay"), resp.headers.get("Location")
    order_no = re.search(r"/me/orders/([^/]+)/pay", resp.headers["Location"]).group(1)
    with app.app_context():
        order = db.session.scalars(sa.select(Order).where(Order.order_no == order_no)).one()
        db.session.expunge(order)
    return order


def _pay(client, order: Order) -> None:
    assert client.post("/payments/notify/sandbox", data=notice(order.order_no, order.amount_fen)).data == b"success"


@pytest.fixture
def shop(app, make_sku, stock):
    anchor = make_sku(price="30.00", name="腾讯视频 月卡")
    add_on = make_sku(price="15.00", brand="QQ音乐", name="QQ音乐 豪华绿钻")
    gift = make_sku(price="8.00", brand="星巴克", name="星巴克 咖啡券")
    for s in (anchor, add_on):
        stock(s, 5)
    with app.app_context():
        campaign = make_campaign()
        pin = offers.create_pin(None, campaign, anchor, add_on, price_fen=1000).id
        offers.create_gift_offer(None, campaign, gift, trigger_sku_id=anchor)
        offers.create_first_order_offer(None, campaign, "amount", amount_fen=300)
    return {"anchor": anchor, "add_on": add_on, "gift": gift, "pin": pin, "campaign": campaign}


def test_product_page_shows_the_offers(client, login_as, shop):
    login_as("consumer")
    page = text(client.get(f"/me/shop/{shop['anchor']}"))
    assert 'id="often-bought"' in page and "QQ音乐 豪华绿钻" in page
    assert "星巴克 咖啡券" in page and 'id="first-order-offer"' in page and "¥3.00" in page


def test_after_a_purchase_the_buyer_adds_the_cross_sell_at_its_price(app, client, login_as, shop):
    login_as("consumer")
    order = _buy(app, client, shop["anchor"])
    assert order.discount_fen == 300  # first order
    _pay(client, order)
    page = text(client.get(f"/me/orders/{order.order_no}"))
    assert 'id="cross-sell"' in page and "¥10.00" in page and f'name="cross_sell" value="{shop["pin"]}"' in page
    assert 'data-gift="none_left"' in page  # no gift code was in stock: the order went ahead without it
    assert 'data-source="first_order"' in page
    add_on = _buy(app, client, shop["add_on"], cross_sell=str(shop["pin"]))
    assert (add_on.amount_fen, add_on.discount_fen) == (1000, 500)
    _pay(client, add_on)
    page = text(client.get(f"/me/orders/{order.order_no}"))
    assert 'name="cross_sell"' not in page  # used: the recommendation stays, without the price


@pytest.mark.parametrize("lang,message", [("zh_CN", "24 小时内"), ("en", "within 24 hours")])
def test_a_refused_add_on_says_why_and_charges_nothing(app, client, login_as, shop, peek, lang, message):
    login_as("consumer")
    client.post(f"/lang/{lang}")
    resp = client.post(f"/me/shop/{shop['add_on']}/buy", data={"quantity": "1", "cross_sell": str(shop["pin"])},
                       follow_redirects=True)
    assert message in text(resp)
    assert peek.count(Order) == 0


def test_ops_sets_up_offers_in_a_campaign(app, client, login_as, shop, make_sku, stock, peek):
    login_as("ops")
    page = text(client.get("/ops/marketing/offers/"))
    assert 'id="campaign"' in page and 'href="/ops/marketing/"' in page  # the page, under the Marketing nav item
    c = shop["campaign"]
    page = text(client.get(f"/ops/marketing/offers/?campaign={c}"))
    assert "QQ音乐 豪华绿钻" in page and "星巴克 咖啡券" in page
    other = make_sku(price="20.00", name="网易云音乐 月卡")
    gift = make_sku(price="5.00", brand="瑞幸咖啡", name="瑞幸 咖啡券")
    resp = client.post(f"/ops/marketing/offers/{c}/first-order",
                       data={"kind": "percent", "percent": "20", "cap": "5.00", "sku_ids": [str(other)]})
    assert resp.status_code == 303
    assert client.post(f"/ops/marketing/offers/{c}/gifts",
                       data={"threshold": "50.00", "gift_sku_id": str(gift)}).status_code == 303
    assert client.post(f"/ops/marketing/offers/{c}/pins",
                       data={"anchor_sku_id": str(shop["anchor"]), "recommended_sku_id": str(other),
                             "position": "1", "price": "12.00"}).status_code == 303
    assert peek.count(FirstOrderOffer) == 2 and peek.count(GiftOffer) == 2 and peek.count(CrossSellPin) == 2
    made = peek.first(sa.select(FirstOrderOffer).order_by(FirstOrderOffer.id.desc()))
    assert (made.kind, made.percent, made.cap_fen, made.sku_ids) == ("percent", 20, 500, [other])
    # Refused: an add-on price above the SKU's own, in the ops page with the reason.
    resp = client.post(f"/ops/marketing/offers/{c}/pins",
                       data={"anchor_sku_id": str(other), "recommended_sku_id": str(shop["anchor"]),
                             "price": "99.00"})
    assert resp.status_code == 422 and "¥30.00" in text(resp)
    pin = peek.first(sa.select(CrossSellPin).order_by(CrossSellPin.id))
    assert client.post(f"/ops/marketing/offers/pin/{pin.id}/off").status_code == 303
    assert peek.get(CrossSellPin, pin.id).active is False


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_the_offers_pages_render_in_both_languages(client, login_as, shop, lang):
    login_as("ops")
    client.post(f"/lang/{lang}")
    resp = client.get(f"/ops/marketing/offers/?campaign={shop['campaign']}")
    assert resp.status_code == 200
    assert ("首单优惠" if lang == "zh_CN" else "First-order discount") in text(resp)


def test_the_order_page_shows_a_delivered_gift_in_english(app, client, login_as, shop, stock):
    stock(shop["gift"], 1)
    login_as("consumer")
    client.post("/lang/en")
    page = text(client.get(f"/me/shop/{shop['anchor']}"))
    assert "Free gift with this order: 星巴克 咖啡券" in page and "off your first order" in page
    order = _buy(app, client, shop["anchor"])
    _pay(client, order)
    page = text(client.get(f"/me/orders/{order.order_no}"))
    assert 'data-gift="delivered"' in page and "Free gift included: 星巴克 咖啡券" in page
    assert page.count('class="box p-3 mb-2 order-unit"') == 2  # the gift is one of the order's items
