"""Ops marketing pages: the landing page (campaigns by status, the feature sections that exist), a campaign's
create / edit / publish / end with its window typed in Beijing time, its report with the chart data and the
XLSX; segments with the size previewed before saving; a bulk action's self-replacing progress widget."""

import json
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from app.core.ids import utcnow
from app.core.models import AuditLog
from app.extensions import db
from app.marketing.models import Campaign, Segment, SegmentRun
from app.queues import queue
from app.web.ops import marketing_views

HX = {"HX-Request": "true"}


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def ops(client, login_as):
    uid = login_as("ops")
    client.post("/lang/en")
    return uid


def _window(start: datetime, hours: int = 2) -> dict:
    fmt = "%Y-%m-%dT%H:%M"
    return {"starts_at": start.strftime(fmt), "ends_at": (start + timedelta(hours=hours)).strftime(fmt)}


def test_ops_runs_a_campaign_from_the_console(client, ops, peek):
    resp = client.get("/ops/marketing/")
    assert resp.status_code == 200 and 'id="marketing-link"' in text(resp) and "No campaigns yet." in text(resp)
    resp = client.post("/ops/marketing/campaigns/new", data={"name": "双十二", "description": "全场",
                                                             **_window(datetime(2030, 12, 12, 10, 0))})
    assert resp.status_code == 303
    c = peek.first(sa.select(Campaign))
    assert resp.headers["Location"].endswith(f"/ops/marketing/campaigns/{c.id}")
    assert (c.starts_at, c.ends_at, c.status) == (datetime(2030, 12, 12, 2, 0), datetime(2030, 12, 12, 4, 0), "draft")
    page = text(client.get(f"/ops/marketing/campaigns/{c.id}"))
    assert 'id="campaign-publish"' in page and 'id="campaign-end"' not in page
    assert "2030-12-12 10:00" in page  # shown in Beijing time
    edit = text(client.get(f"/ops/marketing/campaigns/{c.id}/edit"))
    assert 'value="2030-12-12T10:00"' in edit
    assert client.post(f"/ops/marketing/campaigns/{c.id}/publish").status_code == 303
    assert peek.get(Campaign, c.id).status == "scheduled"
    page = text(client.get(f"/ops/marketing/campaigns/{c.id}"))
    assert 'data-status="scheduled"' in page and 'id="campaign-end"' in page
    client.post(f"/ops/marketing/campaigns/{c.id}/end")
    assert peek.get(Campaign, c.id).status == "ended"
    resp = client.post(f"/ops/marketing/campaigns/{c.id}/end", follow_redirects=True)
    assert "Only a scheduled or live campaign can be ended." in text(resp)
    actions = peek(lambda: list(db.session.scalars(sa.select(AuditLog.action).where(
        AuditLog.target_type == "campaign").order_by(AuditLog.id))))
    assert actions == ["campaign.create", "campaign.publish", "campaign.end"]


def test_a_bad_window_is_refused_next_to_its_field(client, ops, peek):
    resp = client.post("/ops/marketing/campaigns/new", data={"name": "x", **_window(datetime(2030, 1, 1), -1)})
    assert resp.status_code == 200 and "The campaign must end after it starts." in text(resp)
    assert peek.count(Campaign) == 0


def test_the_landing_page_shows_the_status_readers_see(client, ops, app):
    with app.app_context():
        now = utcnow()
        db.session.add(Campaign(name="已开始", status="scheduled", starts_at=now - timedelta(hours=1),
                                ends_at=now + timedelta(hours=1)))
        db.session.commit()
    page = text(client.get("/ops/marketing/"))
    row = re.search(r'<tr data-campaign="\d+">.*?</tr>', page, re.S).group(0)
    assert "已开始" in row and 'data-status="live"' in row  # before the clock job has moved it


def test_sections_link_only_to_pages_that_exist(client, ops):
    marketing_views.register_section("ops.coupons_not_built_yet", "Coupons")
    try:
        page = text(client.get("/ops/marketing/"))
    finally:
        marketing_views.SECTIONS.remove(("ops.coupons_not_built_yet", "Coupons"))
    links = re.findall(r'data-section="([\w.]+)"', page)
    assert links[:2] == ["ops.marketing_home", "ops.segments_list"]
    assert links == [e for e, _ in marketing_views.SECTIONS if e != "ops.coupons_not_built_yet"]


def test_the_nav_says_marketing_in_chinese(client, login_as):
    login_as("ops")
    client.post("/lang/zh_CN")
    assert ">营销</a>" in text(client.get("/ops/"))


def test_a_segment_is_sized_before_use_and_messaged(client, ops, make_user, peek, app):
    buyers = [make_user("consumer") for _ in range(3)]
    preview = client.post("/ops/marketing/segments/size", data={"new_users": "y", "new_users__days": "7"},
                          headers=HX)
    assert preview.status_code == 200 and "3 buyers match these rules now." in text(preview)
    assert "<html" not in text(preview)
    bad = client.post("/ops/marketing/segments/new", data={"name": "新人", "new_users": "y", "new_users__days": "0"})
    assert bad.status_code == 200 and "Between 1 and 3650 days." in text(bad) and peek.count(Segment) == 0
    resp = client.post("/ops/marketing/segments/new", data={"name": "新人", "new_users": "y", "new_users__days": "7",
                                                             "spend_over__amount": ""})  # an unticked rule's field
    assert resp.status_code == 303
    seg = peek.first(sa.select(Segment))
    assert seg.rules == {"new_users": {"days": 7}}
    page = text(client.get(f"/ops/marketing/segments/{seg.id}"))
    assert 'id="segment-size-now" data-size="3"' in page
    refused = client.post(f"/ops/marketing/segments/{seg.id}/runs", data={"action": "message", "message__title": ""})
    assert refused.status_code == 422 and "This field is required." in text(refused) and peek.count(SegmentRun) == 0
    with app.app_context():
        queue("default").empty()
    resp = client.post(f"/ops/marketing/segments/{seg.id}/runs",
                       data={"action": "message", "message__title": "欢迎", "message__body": "新人礼包"})
    run = peek.first(sa.select(SegmentRun))
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/ops/marketing/runs/{run.id}")
    widget = text(client.get(f"/ops/marketing/runs/{run.id}", headers=HX))
    assert widget.lstrip().startswith('<div id="run-progress"') and 'hx-trigger="load delay:1s"' in widget
    assert 'hx-swap="outerHTML"' in widget
    with app.app_context():
        from jobs import marketing as jobs

        assert jobs.run_segment_action(run.id) == "done"
        queue("default").empty()
    done = text(client.get(f"/ops/marketing/runs/{run.id}", headers=HX))
    assert "hx-get" not in done and "Done for 3 of 3 members." in done
    assert peek(lambda: sorted(db.session.scalars(sa.text(
        "SELECT user_id FROM notifications WHERE kind = 'marketing_message'")))) == sorted(buyers)


def test_the_report_page_has_its_chart_data_and_xlsx(client, ops, app, make_user, make_sku):
    from app.core.ids import order_no
    from app.marketing.models import OrderPromotion
    from app.orders.models import Order

    with app.app_context():
        now = utcnow()
        c = Campaign(name="报表", status="live", starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=1))
        db.session.add(c)
        o = Order(order_no=order_no(), buyer_id=make_user("consumer"), sku_id=make_sku(), quantity=1,
                  unit_price_fen=3000, amount_fen=2500, discount_fen=500, paid_at=now, status="delivered")
        db.session.add(o)
        db.session.flush()
        db.session.add(OrderPromotion(order_id=o.id, campaign_id=c.id, source="coupon", discount_fen=500))
        db.session.commit()
        cid = c.id
    page = text(client.get(f"/ops/marketing/campaigns/{cid}"))
    chart = json.loads(re.search(r"data-chart='([^']*)'", page).group(1).replace("&#34;", '"'))
    assert chart["gmv"] == [25.0] and chart["discount"] == [5.0] and chart["orders"] == [1]
    assert "vendor/echarts.min.js" in page and "<script" not in page.split("<body", 1)[1]
    assert re.search(r'data-figure="gmv">.*?¥25\.00', page, re.S)
    resp = client.get(f"/ops/marketing/campaigns/{cid}/report.xlsx")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    assert resp.data[:2] == b"PK"
