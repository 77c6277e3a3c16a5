"""A member, in a real browser at phone size (375 px), checks in, sees the points on the points page, and buys a
benefit in the points mall with points only: the order is paid without the gateway and the benefit delivered."""

import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.loyalty import points, points_mall
from tests.support.browser import Person

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


@pytest.mark.parametrize("device", ["phone"], indirect=True)
def test_check_in_see_points_and_buy_in_the_points_mall(app, page, device, live_server, make_user, make_sku, stock,
                                                        shoot):
    me = Person(page, device)
    email = f"points-{device}@t.example"
    uid = make_user("consumer", email=email)
    sku_id = make_sku(price="15.00", face="15.00", brand="QQ音乐", name="QQ音乐 绿钻 周卡")
    stock(sku_id, n=2)
    with app.app_context():
        points.save_settings(None, earn_per_yuan=1, checkin_points=[5, 5, 10, 10, 10, 10, 20],
                             expiry_mode="year_end", expiry_days=365, remind_days=30)
        item_id = points_mall.save_item(None, sku_id=sku_id, title="QQ音乐 绿钻 周卡", points_=100, cash_fen=0).id
        points.earn(uid, 100, kind="grant", key="e2e:welcome", memo="welcome")
        db.session.commit()

    page.goto(live_server + "/login")
    me.log_in(email)
    me.switch_language("en")
    me.nav("/me/points")
    expect(page.locator("#points-balance")).to_have_text("100")
    me.press(page.locator("#checkin-button"))
    expect(page.locator(".notification, .message").filter(has_text="Checked in: +5 points")).to_be_visible()
    expect(page.locator("#points-balance")).to_have_text("105")
    expect(page.locator("#checked-in")).to_be_visible()
    expect(page.locator('.points-entry[data-kind="checkin"]')).to_have_count(1)
    me.assert_fits("the points page")
    shoot(page, "points-01-checked-in")

    me.press(page.locator("#mall-link"))
    card = page.locator(f'.mall-item[data-item="{item_id}"]')
    expect(card).to_contain_text("100 points")
    me.assert_fits("the points mall")
    me.press(card)
    expect(page.locator("#item-price")).to_have_text("100 points")
    me.assert_fits("the mall item")
    shoot(page, "points-02-item")
    me.press(page.locator("#buy-button"))
    expect(page).to_have_url(re.compile(re.escape(live_server) + r"/me/orders/\w+$"))
    expect(page.locator(".notification, .message").filter(has_text="Bought with points.")).to_be_visible()
    me.assert_fits("the mall order")
    shoot(page, "points-03-order")

    me.nav("/me/points")
    expect(page.locator("#points-balance")).to_have_text("5")
    expect(page.locator('.points-entry[data-kind="spend"]')).to_have_count(1)
