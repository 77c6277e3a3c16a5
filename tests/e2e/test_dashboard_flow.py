"""Ops read the dashboard in a real browser: the figures for a period, another range, one brand, and the figures
downloaded as XLSX holding the same GMV."""

import io
import re

import openpyxl
import pytest
from playwright.sync_api import expect

from app.accounts.models import Role
from tests.insight.conftest import at, days_ago
from tests.insight.conftest import seeder as seeder  # noqa: F401,F811  (the fixture, shared with tests/insight)
from tests.support.browser import Person

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


def test_ops_reads_the_dashboard_and_downloads_xlsx(page, device, app, live_server, make_user, seeder, make_sku,  # noqa: F811
                                                   shoot):
    me = Person(page, device)
    email = f"dash-{device}@t.example"
    make_user(Role.ops, email=email)
    video, coffee = make_sku(brand="腾讯视频"), make_sku(brand="瑞幸咖啡")
    seeder.order(video, paid_at=at(days_ago(1)), amount_fen=12000)
    seeder.order(coffee, paid_at=at(days_ago(20)), amount_fen=3000)

    page.goto(live_server + "/login")
    me.log_in(email, "/ops/")
    figure = page.locator("[data-figure=gmv_fen] .figure-value")
    expect(figure).to_have_text("¥120.00")  # the last 7 days
    page.locator("#range").select_option("30d")
    me.press(page.locator("#dashboard-apply"))
    expect(page).to_have_url(re.compile(r"range=30d"))
    expect(figure).to_have_text("¥150.00")
    expect(page.locator("#dashboard-chart canvas")).to_have_count(1)
    expect(page.locator("#dashboard-channel-chart canvas")).to_have_count(1)
    page.locator("#brand").select_option(label="瑞幸咖啡")
    me.press(page.locator("#dashboard-apply"))
    expect(figure).to_have_text("¥30.00")
    shoot(page, "dashboard-01-brand")
    with page.expect_download() as info:
        page.locator("a[data-download=figures]").first.click()
    book = openpyxl.load_workbook(io.BytesIO(open(info.value.path(), "rb").read()))
    values = [row[1] for row in book.active.iter_rows(min_row=2, values_only=True)]
    assert values[0] == 30.0 and values[1] == 1  # GMV and paid orders, whichever language the headers are in
