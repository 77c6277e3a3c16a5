"""Flash sales in a real browser, at desktop width and on a 375 px phone: ops create one in the console; a
buyer waits on the countdown (the page's own "flash:started" event, no fixed sleep), buys at the start and
pays; another buyer then finds it sold out."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.core.ids import utcnow
from app.extensions import db
from app.marketing.models import FlashSale
from tests.e2e.conftest import VIEWPORTS
from tests.support.browser import Person
from tests.support.marketing_flash import make_campaign, make_flash_sale

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


def test_ops_create_a_flash_sale(page, device, app, live_server, make_user, make_sku, stock, shoot):
    me = Person(page, device)
    email = f"ops-flash-{device}@t.example"
    make_user("ops", email=email)
    sku_id = make_sku(price="30.00", name="腾讯视频 VIP 月卡")
    stock(sku_id, 3)
    with app.app_context():
        make_campaign("双十二 秒杀节")

    page.goto(live_server + "/login")
    me.log_in(email, "/ops/")
    me.nav("/ops/marketing/")  # Marketing, then its Flash sales tab
    me.press(page.locator("#marketing-sections a[data-section='ops.flash_sales']"))
    expect(page).to_have_url(re.compile(r"/ops/marketing/flash/$"))
    me.press(page.locator("#new-flash-sale"))
    expect(page).to_have_url(re.compile(r"/ops/marketing/flash/new"))
    page.locator("#campaign_id").select_option(label="双十二 秒杀节")
    page.locator("#sku_id").select_option(str(sku_id))
    page.locator("#price").fill("9.90")
    page.locator("#quota").fill("100")
    page.locator("#per_user_limit").fill("2")
    start = utcnow() + timedelta(hours=8, minutes=30)  # typed in Beijing time
    page.locator("#starts_at").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.locator("#ends_at").fill((start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    shoot(page, "flash-01-ops-form")
    me.press(page.locator("#save-flash-sale"))

    expect(page).to_have_url(re.compile(r"/ops/marketing/flash/\?campaign=\d+$"))
    row = page.locator("#flash-sales tbody tr[data-sale]")
    expect(row).to_have_count(1)
    expect(row.locator(".remaining")).to_have_text("100")
    expect(row.locator(".flash-state")).to_have_attribute("data-state", "upcoming")
    shoot(page, "flash-02-ops-list")
    with app.app_context():
        sale = db.session.scalars(sa.select(FlashSale)).one()
        assert (sale.price_fen, sale.quota, sale.per_user_limit) == (990, 100, 2)


def test_a_buyer_waits_for_the_start_buys_and_the_next_finds_it_sold_out(
        page, device, browser, app, live_server, paygate, make_user, make_sku, stock, shoot, settle_payments):
    me = Person(page, device)
    email = f"flash-buyer-{device}@t.example"
    make_user("consumer", email=email)
    sku_id = make_sku(price="30.00", name="爱奇艺 黄金会员 月卡")
    stock(sku_id, 3)

    page.goto(live_server + "/login")
    me.log_in(email)
    with app.app_context():  # a few seconds ahead: the buyer is on the page before it starts
        make_flash_sale(sku_id, price=990, quota=1, limit=1, starts_in=timedelta(seconds=5))
    me.nav("/me/shop")
    me.press(page.locator(".product-card").filter(has_text="爱奇艺 黄金会员 月卡"))
    me.press(page.locator("#flash-banner"))
    expect(page).to_have_url(re.compile(r"/me/flash/\d+$"))
    expect(page.locator("#flash-status")).to_have_attribute("data-state", "upcoming")
    expect(page.locator("#buy")).to_be_disabled()
    expect(page.locator("#flash-countdown")).to_have_text(re.compile(r"^00:00:0\d$"))
    me.assert_fits("the flash sale's countdown")
    shoot(page, "flash-03-countdown")

    # the page's own event at zero; then the status block, asked at once, brings the buy button
    page.wait_for_function("() => document.documentElement.dataset.flashStarted !== undefined", timeout=15_000)
    expect(page.locator("#flash-status")).to_have_attribute("data-state", "live", timeout=10_000)
    expect(page.locator("#remaining-count")).to_have_text("1")
    shoot(page, "flash-04-live")
    me.press(page.locator("#buy"))

    expect(page).to_have_url(re.compile("^" + re.escape(paygate) + "/checkout"))
    expect(page.locator("#amount")).to_have_text("CNY 9.90")
    settle_payments.append(page.locator("#out-trade-no").inner_text().strip())
    me.press(page.locator("#pay"))
    expect(page).to_have_url(re.compile(r"/me/orders/[^/]+$"))

    other_email = f"flash-late-{device}@t.example"
    make_user("consumer", email=other_email)
    context = browser.new_context(locale="zh-CN", **VIEWPORTS[device])
    try:
        late = context.new_page()
        them = Person(late, device)
        late.goto(live_server + "/login")
        them.log_in(other_email)
        them.nav("/me/shop")
        them.press(late.locator(".product-card").filter(has_text="爱奇艺 黄金会员 月卡"))
        them.press(late.locator("#flash-banner"))
        expect(late.locator("#sold-out")).to_be_visible()
        expect(late.locator("#sold-out")).to_contain_text("已抢光")
        expect(late.locator("#buy")).to_have_count(0)
        them.assert_fits("the sold-out flash sale")
        shoot(late, "flash-05-sold-out")
    finally:
        context.close()
