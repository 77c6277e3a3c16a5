"""The consumer benefit center through the test client: every page, both languages, HTMX fragments."""

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.fulfilment.models import Entitlement
from app.orders.models import Order
from tests.support.payments import notice


@pytest.fixture
def bought(app, client, login_as, make_sku, stock):
    """A logged-in consumer who bought and paid for one code; returns (user_id, entitlement_id, code)."""
    uid = login_as("consumer")
    sku_id = make_sku(price="15.00", brand="瑞幸咖啡", name="瑞幸 咖啡券")
    codes = stock(sku_id, 2)
    resp = client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1"})
    assert resp.status_code == 303
    with app.app_context():
        order = db.session.scalars(sa.select(Order).where(Order.buyer_id == uid)).one()
        client.post("/payments/notify/sandbox", data=notice(order.order_no, order.amount_fen))
        ent = db.session.scalars(sa.select(Entitlement).where(Entitlement.owner_id == uid)).one()
        from app.inventory.models import Code

        code_plain = next(c for c in codes if c.endswith(db.session.get(Code, ent.code_id).tail))
        return uid, ent.id, code_plain, order.order_no, sku_id


def test_shop_is_public_and_lists_products(client, make_sku, stock):
    sku_id = make_sku(price="25.00", brand="爱奇艺", name="爱奇艺 黄金会员 月卡")
    stock(sku_id, 1)
    page = client.get("/me/shop").get_data(as_text=True)
    assert "爱奇艺 黄金会员 月卡" in page and "¥25.00" in page
    assert "有货" in page  # zh_CN by default
    detail = client.get(f"/me/shop/{sku_id}")
    assert detail.status_code == 200 and "如何兑换" in detail.get_data(as_text=True)


def test_shop_category_filter_is_an_htmx_fragment(client, make_sku):
    make_sku(brand="爱奇艺", name="视频卡")
    resp = client.get("/me/shop?category=coffee", headers={"HX-Request": "true"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in body and 'id="products"' in body
    assert "HX-Request" in resp.headers.get("Vary", "")
    full = client.get("/me/shop?category=coffee", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in full.get_data(as_text=True)


def test_buy_redirects_to_the_signed_gateway_checkout(app, client, login_as, make_sku, stock):
    login_as("consumer")
    sku_id = make_sku(price="10.00")
    stock(sku_id, 1)
    resp = client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1"})
    pay_url = resp.headers["Location"]
    gateway = client.get(pay_url)
    assert gateway.status_code == 303
    assert gateway.headers["Location"].startswith(app.config["PAYGATE_URL"] + "/checkout?")
    assert "amount=10.00" in gateway.headers["Location"] and "sign=" in gateway.headers["Location"]


@pytest.mark.parametrize("quantity", ["0", "abc", "99", ""])
def test_bad_quantity_shows_an_error_and_orders_nothing(app, client, login_as, make_sku, stock, quantity):
    login_as("consumer")
    sku_id = make_sku()
    stock(sku_id, 3)
    resp = client.post(f"/me/shop/{sku_id}/buy", data={"quantity": quantity}, follow_redirects=True)
    assert "数量必须在 1 到 10 之间" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0


def test_sold_out_shows_a_clear_error(app, client, login_as, make_sku, stock):
    login_as("consumer")
    sku_id = make_sku()
    stock(sku_id, 1)
    resp = client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "2"}, follow_redirects=True)
    assert "库存不足" in resp.get_data(as_text=True)


def test_benefits_page_groups_by_brand_and_filters(client, bought):
    page = client.get("/me/").get_data(as_text=True)
    assert "瑞幸咖啡" in page and "瑞幸 咖啡券" in page and "未使用" in page and "天后到期" in page
    used = client.get("/me/?status=used", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "瑞幸 咖啡券" not in used and "<html" not in used


def test_benefit_page_masks_then_reveals_with_qr(client, bought):
    _, ent_id, code, _, _ = bought
    page = client.get(f"/me/benefits/{ent_id}").get_data(as_text=True)
    assert code not in page and code[-4:] in page
    frag = client.post(f"/me/benefits/{ent_id}/reveal", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert code in frag and "<svg" in frag and "<html" not in frag


def test_mark_used(client, bought):
    _, ent_id, _, _, _ = bought
    resp = client.post(f"/me/benefits/{ent_id}/use", follow_redirects=True)
    assert "已标记为已使用" in resp.get_data(as_text=True)
    assert 'data-status="used"' in client.get(f"/me/benefits/{ent_id}").get_data(as_text=True)


def test_orders_pages(client, bought):
    _, _, _, order_no, _ = bought
    assert order_no in client.get("/me/orders").get_data(as_text=True)
    detail = client.get(f"/me/orders/{order_no}").get_data(as_text=True)
    assert 'data-status="delivered"' in detail


def test_another_users_objects_answer_404(client, bought, login_as):
    _, ent_id, code, order_no, _ = bought
    login_as("consumer")  # someone else
    for url in (f"/me/benefits/{ent_id}", f"/me/orders/{order_no}", f"/me/orders/{order_no}/pay"):
        r = client.get(url)
        assert r.status_code == 404, (url, r.status, r.data[:200])
    resp = client.post(f"/me/benefits/{ent_id}/reveal")
    assert resp.status_code == 404 and code not in resp.get_data(as_text=True)
    assert client.post(f"/me/benefits/{ent_id}/use").status_code == 404
    assert client.post(f"/me/orders/{order_no}/cancel").status_code == 404


def test_cancel_unpaid_order(app, client, login_as, make_sku, stock):
    uid = login_as("consumer")
    sku_id = make_sku()
    stock(sku_id, 1)
    client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1"})
    with app.app_context():
        order_no = db.session.scalar(sa.select(Order.order_no).where(Order.buyer_id == uid))
    page = client.get(f"/me/orders/{order_no}").get_data(as_text=True)
    assert 'id="pay-now"' in page
    resp = client.post(f"/me/orders/{order_no}/cancel", follow_redirects=True)
    assert "订单已取消" in resp.get_data(as_text=True)


def test_english_switch(client, bought):
    client.post("/lang/en", data={"next": "/me/"})
    page = client.get("/me/").get_data(as_text=True)
    assert "My benefits" in page and "Unused" in page
    assert re.search(r'<html lang="en"', page)


def test_paid_order_page_polls_itself_until_delivered(app, client, login_as, make_sku, stock):
    uid = login_as("consumer")
    sku_id = make_sku()
    stock(sku_id, 1)
    client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1"})
    with app.app_context():
        order = db.session.scalars(sa.select(Order).where(Order.buyer_id == uid)).one()
        db.session.execute(sa.update(Order).where(Order.id == order.id).values(status="paid"))
        db.session.commit()
        order_no = order.order_no
    frag = client.get(f"/me/orders/{order_no}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="load delay:1s"' in frag and "<html" not in frag
