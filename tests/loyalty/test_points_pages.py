"""Points pages: the benefit center's my points (balance, check-in, history, expiring soon) and points mall in
both languages, and the ops pages under Members (settings, grant, mall items, a member's ledger)."""

import pytest
import sqlalchemy as sa

from app.accounts.models import Role
from app.extensions import db
from app.loyalty import points, points_mall
from app.loyalty.models.points import CheckIn, MallItem
from app.orders.models import Order
from tests.web.test_access import endpoint_roles

POINTS_PAGES = {"ops.points_settings", "ops.points_grant", "ops.points_member_lookup", "ops.points_member",
                "ops.points_mall_items", "ops.members_home"}


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def item(app, make_sku, stock):
    sku_id = make_sku(price="20.00")
    stock(sku_id, 3)
    with app.app_context():
        return points_mall.save_item(None, sku_id=sku_id, title="视频月卡", points_=50, cash_fen=0).id


def _give(app, uid: int, n: int) -> None:
    with app.app_context():
        points.earn(uid, n, kind="grant", key=f"t:{uid}:{n}")
        db.session.commit()


def test_check_in_then_see_points_and_the_streak(client_as, peek):
    c, uid = client_as()
    page = text(c.get("/me/points"))
    assert 'id="points-balance">0<' in page and "Check in: +1 points" in page
    resp = c.post("/me/points/check-in")
    assert resp.status_code == 303
    page = text(c.get(resp.headers["Location"]))
    assert "Checked in: +1 points (day 1 in a row)." in page and 'id="points-balance">1<' in page
    assert 'id="checked-in"' in page and 'data-kind="checkin"' in page
    resp = c.post("/me/points/check-in")  # a second click: refused, nothing more
    assert "You have already checked in today." in text(c.get(resp.headers["Location"]))
    assert peek.count(CheckIn, CheckIn.user_id == uid) == 1


def test_the_points_page_in_chinese(app, client, login_as):
    uid = login_as()
    _give(app, uid, 7)
    client.post("/lang/zh_CN")
    page = text(client.get("/me/points"))
    assert "我的积分" in page and "每日签到" in page and "积分商城" in page
    resp = client.post("/me/points/check-in")
    assert "签到成功" in text(client.get(resp.headers["Location"]))


def test_buy_in_the_mall_with_points(app, client_as, item, peek):
    c, uid = client_as()
    page = text(c.get("/me/points/mall"))
    assert f'data-item="{item}"' in page and "50 points" in page
    resp = c.post(f"/me/points/mall/{item}/buy")  # no points yet: refused, nothing made
    assert resp.status_code == 303
    assert "You do not have enough points: 50 needed, 0 available." in text(c.get(resp.headers["Location"]))
    assert peek.count(Order, Order.buyer_id == uid) == 0
    _give(app, uid, 80)
    resp = c.post(f"/me/points/mall/{item}/buy")
    assert resp.status_code == 303 and "/me/orders/" in resp.headers["Location"]
    assert "Bought with points." in text(c.get(resp.headers["Location"]))
    with app.app_context():
        assert points.balance(uid) == 30


def test_points_pages_are_ops_only(app):
    assert POINTS_PAGES <= set(app.view_functions)
    assert all(endpoint_roles(e) == {Role.ops} for e in POINTS_PAGES)


def test_ops_settings_grant_and_member_ledger(app, client_as, make_user):
    c, ops = client_as("ops")
    # The Members section opens on its first tab; this part's page is among its tabs.
    assert 'href="/ops/members/points/"' in c.get(c.get("/ops/members/").location).get_data(as_text=True)
    page = text(c.get("/ops/members/points/"))
    assert 'id="members-tabs"' in page and 'id="members-link"' in page
    form = {"earn_per_yuan": "2", "expiry_mode": "days", "expiry_days": "30", "remind_days": "7",
            **{f"day{n}": str(n) for n in range(1, 8)}}
    assert c.post("/ops/members/points/", data={**form, "earn_per_yuan": "-1"}).status_code == 422
    with app.app_context():
        assert db.session.get(points.PointsSettings, 1) is None
    assert c.post("/ops/members/points/", data=form).status_code == 303
    with app.app_context():
        assert (points.settings().earn_per_yuan, points.settings().expiry_days) == (2, 30)
    member = make_user(email="pointsmember@t.example")
    resp = c.post("/ops/members/points/grant", data={"user": "pointsmember@t.example", "points": "40",
                                                     "reason": ""})
    assert "Say why these points are granted." in text(c.get(resp.headers["Location"]))
    resp = c.post("/ops/members/points/grant", data={"user": "pointsmember@t.example", "points": "40",
                                                     "reason": "apology"})
    page = text(c.get(resp.headers["Location"]))
    assert 'id="member-balance">40<' in page and "apology" in page
    with app.app_context():
        assert points.balance(member) == 40


def test_ops_mall_items(app, client_as, make_sku):
    c, _ = client_as("ops")
    sku_id = make_sku(price="20.00")
    resp = c.post("/ops/members/points/mall", data={"sku_id": sku_id, "title": "月卡", "points": "100",
                                                     "cash": "20.00"})
    assert "The cash part must be less than the SKU&#39;s price." in text(c.get(resp.headers["Location"]))
    c.post("/ops/members/points/mall", data={"sku_id": sku_id, "title": "月卡", "points": "100", "cash": "5"})
    with app.app_context():
        item = db.session.scalars(sa.select(MallItem)).one()
        assert (item.points, item.cash_fen, item.active) == (100, 500, True)
    page = text(c.get("/ops/members/points/mall"))
    assert f'data-item="{item.id}"' in page


def test_points_plus_cash_goes_on_to_the_gateway(app, client_as, make_sku, stock):
    sku_id = make_sku(price="20.00")
    stock(sku_id, 2)
    with app.app_context():
        item = points_mall.save_item(None, sku_id=sku_id, title="半价月卡", points_=30, cash_fen=1000).id
    c, uid = client_as()
    _give(app, uid, 30)
    assert "Redeem and pay ¥10.00" in text(c.get(f"/me/points/mall/{item}"))
    resp = c.post(f"/me/points/mall/{item}/buy")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/pay")
    with app.app_context():
        order = db.session.scalars(sa.select(Order).where(Order.buyer_id == uid)).one()
        assert (order.status, order.amount_fen, order.discount_fen) == ("pending_payment", 1000, 1000)
        assert points.balance(uid) == 0
