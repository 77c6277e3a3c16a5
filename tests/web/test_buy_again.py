"""Buy again: every order of the benefit center offers it; it opens the SKU page with the same quantity and
top-up account filled in, and the buyer still goes through checkout (an inactive SKU gets a clear message)."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.catalog.models import Sku
from app.extensions import db
from app.orders import services as orders


@pytest.fixture
def topup(ctx, make_sku, make_supplier, map_sku):
    sku_id = make_sku(type_="direct_topup", source="supplier", price="9.80", face="10.00", brand="中国移动")
    map_sku(sku_id, make_supplier(), "topup-10")
    return sku_id


@pytest.fixture
def buyer(ctx, client, login_as):
    return login_as("consumer")


def order_of(uid: int, sku_id: int, quantity: int = 1, accounts: dict | None = None) -> str:
    return orders.create_retail_order(db.session.get(User, uid), sku_id, quantity, accounts=accounts).order_no


def test_the_order_page_and_the_list_offer_it(client, buyer, make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 1)
    order_no = order_of(buyer, sku_id)
    again = f'href="/me/orders/{order_no}/again"'
    assert 'id="buy-again"' in client.get(f"/me/orders/{order_no}").text
    assert again in client.get(f"/me/orders/{order_no}").text and again in client.get("/me/orders").text


def test_the_same_account_and_quantity_are_filled_in(client, buyer, topup):
    order_no = order_of(buyer, topup, 2, accounts={"mobile": "13800001111"})
    page = client.get(f"/me/orders/{order_no}/again")
    assert page.status_code == 200
    assert 'name="account_mobile"' in page.text and 'value="13800001111"' in page.text
    assert 'name="quantity" id="quantity" value="2"' in page.text
    assert f'action="/me/shop/{topup}/buy"' in page.text


def test_buying_again_goes_through_checkout(client, buyer, topup):
    first = order_of(buyer, topup, 1, accounts={"mobile": "13800001111"})
    client.get(f"/me/orders/{first}/again")
    resp = client.post(f"/me/shop/{topup}/buy", data={"quantity": "1", "account_mobile": "13800001111"})
    assert resp.status_code == 303 and "/pay" in resp.headers["Location"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(orders.Order)
                             .where(orders.Order.buyer_id == buyer)) == 2


def test_an_inactive_sku_gets_a_clear_message(client, buyer, make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 1)
    order_no = order_of(buyer, sku_id)
    db.session.execute(sa.update(Sku).where(Sku.id == sku_id).values(active=False))
    db.session.commit()
    with client.session_transaction() as s:
        s["locale"] = "en"
    resp = client.get(f"/me/orders/{order_no}/again")
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/me/orders/{order_no}")
    assert "no longer on sale" in client.get(resp.headers["Location"]).text


def test_the_message_in_chinese(client, buyer, make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 1)
    order_no = order_of(buyer, sku_id)
    db.session.execute(sa.update(Sku).where(Sku.id == sku_id).values(active=False))
    db.session.commit()
    with client.session_transaction() as s:
        s["locale"] = "zh_CN"
    assert "已下架" in client.get(f"/me/orders/{order_no}/again", follow_redirects=True).text


def test_another_buyers_order_answers_404(client, buyer, make_user, make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 1)
    theirs = order_of(make_user("consumer"), sku_id)
    assert client.get(f"/me/orders/{theirs}/again").status_code == 404


def test_guests_are_sent_to_sign_in(client, ctx, make_user, make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 1)
    order_no = order_of(make_user("consumer"), sku_id)
    resp = client.get(f"/me/orders/{order_no}/again")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
