"""Ops, in the browser: creates and publishes a campaign, defines a segment and sees its size before saving,
sends its members an inbox message and watches the progress widget finish; the campaign report draws its
chart (ECharts from static/vendor, under the strict CSP)."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.accounts.models import Role
from app.core.ids import order_no, utcnow
from app.extensions import db
from app.marketing.models import Campaign, OrderPromotion
from app.notifications.models import Notification
from app.orders.models import Order
from tests.support.browser import Person
from tests.support.jobs import worker_running

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


@pytest.fixture
def default_worker(app):
    with worker_running(app, "default") as worker:
        yield worker


def test_ops_creates_a_campaign_and_messages_a_segment(page, device, app, live_server, make_user, make_sku,
                                                       default_worker, shoot):
    me = Person(page, device)
    ops_email = f"ops-mkt-{device}@t.example"
    with app.app_context():
        make_user(Role.ops, email=ops_email)
        buyers = [make_user(Role.consumer) for _ in range(4)]
        sku_id = make_sku()

    page.goto(live_server + "/login")
    me.log_in(ops_email, "/ops/")
    me.nav("/ops/marketing/")
    expect(page.locator("#marketing-sections a[data-section='ops.segments_list']")).to_have_text("人群")

    # --- a campaign: created as a draft, then published ---------------------------------------------------
    me.press(page.locator("#campaign-new"))
    page.locator("#name").fill("双十二 新人礼")
    start = utcnow() + timedelta(hours=8, days=1)  # Beijing time, tomorrow
    page.locator("#starts_at").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.locator("#ends_at").fill((start + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"))
    me.press(page.locator("#campaign-form button[type=submit]"))
    expect(page).to_have_url(re.compile(r"/ops/marketing/campaigns/\d+$"))
    expect(page.locator("#campaign-status")).to_have_attribute("data-status", "draft")
    me.press(page.locator("#campaign-publish"))
    expect(page.locator("#campaign-status")).to_have_attribute("data-status", "scheduled")
    campaign_url = page.url
    shoot(page, "marketing-01-campaign")

    # --- a segment: its size previewed before saving, then on its page -------------------------------------
    me.nav("/ops/marketing/")
    me.press(page.locator("#marketing-sections a[data-section='ops.segments_list']"))
    me.press(page.locator("#segment-new"))
    page.locator("#name").fill("七日新人")
    page.locator("#new_users").check()
    page.locator("#new_users__days").fill("7")
    me.settled()
    me.press(page.locator("#segment-preview"))
    expect(page.locator("#segment-size")).to_contain_text("4")
    me.assert_fits("the segment form")
    me.press(page.locator("#segment-form button[type=submit]"))
    expect(page.locator("#segment-size-now")).to_have_text("4")

    # --- an inbox message to every member; the widget replaces itself until the job is done ---------------
    page.locator("#message__title").fill("新人礼包已到账")
    page.locator("#message__body").fill("欢迎来到权益中心")
    me.press(page.locator("#segment-run"))
    expect(page).to_have_url(re.compile(r"/ops/marketing/runs/\d+$"))
    expect(page.locator("#run-progress")).to_have_attribute("data-status", "done", timeout=30_000)
    expect(page.locator("#run-progress")).to_contain_text("4")
    shoot(page, "marketing-02-run-done")
    with app.app_context():
        got = db.session.scalars(sa.select(Notification.user_id).where(Notification.kind == "marketing_message"))
        assert sorted(got) == sorted(buyers)

    # --- the report draws its chart once the campaign has a paid order ---------------------------------------
    with app.app_context():
        c = db.session.scalars(sa.select(Campaign)).one()
        o = Order(order_no=order_no(), buyer_id=buyers[0], sku_id=sku_id, quantity=1, unit_price_fen=2800,
                  amount_fen=2300, discount_fen=500, paid_at=utcnow(), status="delivered")
        db.session.add(o)
        db.session.flush()
        db.session.add(OrderPromotion(order_id=o.id, campaign_id=c.id, source="coupon", discount_fen=500))
        db.session.commit()
    page.goto(campaign_url)
    expect(page.locator("[data-figure='gmv']")).to_contain_text("¥23.00")
    expect(page.locator("#campaign-chart canvas")).to_have_count(1)
    me.assert_fits("the campaign page")
    shoot(page, "marketing-03-report")
