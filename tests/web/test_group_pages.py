"""Group buys in the benefit center: the offer on the product page, opening and joining through the buy form,
the group page (seats, time left, share link and QR code), a refused join saying why, the held order page."""

import re

import sqlalchemy as sa

from app.extensions import db
from app.marketing.models import Group
from app.orders.models import Order
from tests.support.marketing_groups import make_offer, run_out_of_time
from tests.support.payments import notice


def setup(app, make_sku, stock, size=2):
    sku_id = make_sku(price="30.00", brand="QQ音乐", name="QQ音乐 豪华绿钻 月卡")
    stock(sku_id, 5)
    with app.app_context():
        return sku_id, make_offer(sku_id, price_fen=1990, size=size)


def order_of(app, uid):
    with app.app_context():
        return db.session.scalars(sa.select(Order).where(Order.buyer_id == uid).order_by(Order.id.desc())).first()


def test_two_buyers_complete_a_group_buy_through_the_pages(app, client, login_as, make_sku, stock):
    sku_id, offer_id = setup(app, make_sku, stock)
    leader = login_as("consumer")
    page = client.get(f"/me/shop/{sku_id}").get_data(as_text=True)
    assert 'id="group-buy"' in page and "¥19.90" in page and "2人" in page
    resp = client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1", "group_buy": str(offer_id)})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/pay")
    first = order_of(app, leader)
    assert first.amount_fen == 1990
    client.post("/payments/notify/sandbox", data=notice(first.order_no, first.amount_fen))
    held = client.get(f"/me/orders/{first.order_no}").get_data(as_text=True)
    assert 'id="group-wait"' in held and "等待成团" in held
    group_id = int(re.search(r'/me/groups/(\d+)', held).group(1))

    client.post("/logout")
    public = client.get(f"/me/groups/{group_id}").get_data(as_text=True)  # a shared link opens logged out
    assert "还差 1 人" in public and 'id="join-group-login"' in public
    assert "<svg" in public and f"/me/groups/{group_id}" in public and 'id="share-url"' in public

    friend = login_as("consumer")
    page = client.get(f"/me/groups/{group_id}").get_data(as_text=True)
    assert 'id="join-group"' in page
    resp = client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1", "group": str(group_id)})
    assert resp.status_code == 303
    second = order_of(app, friend)
    assert second.amount_fen == 1990
    client.post("/payments/notify/sandbox", data=notice(second.order_no, second.amount_fen))
    with app.app_context():
        assert db.session.get(Group, group_id).status == "filled"
        assert {o.status for o in db.session.scalars(sa.select(Order))} == {"delivered"}
    done = client.get(f"/me/groups/{group_id}").get_data(as_text=True)
    assert 'id="my-order-link"' in done and "已成团" in done


def test_a_refused_join_says_why_on_the_group_page_and_orders_nothing(app, client, login_as, make_sku, stock):
    sku_id, offer_id = setup(app, make_sku, stock)
    leader = login_as("consumer")
    client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1", "group_buy": str(offer_id)})
    with app.app_context():
        group_id = db.session.scalars(sa.select(Group.id)).one()
    resp = client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1", "group": str(group_id)},
                       follow_redirects=True)
    assert "你已在这个团里" in resp.get_data(as_text=True)
    with app.app_context():
        run_out_of_time(group_id)
    login_as("consumer")
    resp = client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1", "group": str(group_id)})
    assert resp.headers["Location"].endswith(f"/me/groups/{group_id}")
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "拼团时间已到" in page and 'id="join-group"' not in page
    with app.app_context():
        assert [o.buyer_id for o in db.session.scalars(sa.select(Order))] == [leader]


def test_the_group_page_in_english_at_phone_width_markup(app, client, login_as, make_sku, stock):
    sku_id, offer_id = setup(app, make_sku, stock, size=3)
    login_as("consumer")
    client.post("/lang/en")
    client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1", "group_buy": str(offer_id)})
    with app.app_context():
        group_id = db.session.scalars(sa.select(Group.id)).one()
    page = client.get(f"/me/groups/{group_id}").get_data(as_text=True)
    assert "2 seats left" in page and "You are in this group." in page and "Seat 1 · leader · you" in page
    assert "style=" not in page.split("<svg")[0] and "<script>" not in page


def test_an_unknown_group_is_404(client):
    assert client.get("/me/groups/999999").status_code == 404
