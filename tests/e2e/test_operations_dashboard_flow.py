"""Ops, in the browser: the dashboard's operations section draws its charts (ECharts under the strict CSP),
filters by brand, and downloads its XLSX, which holds the numbers on the page."""

import io

import openpyxl
import pytest
from playwright.sync_api import expect

from app.accounts.models import Role
from app.core.ids import order_no
from app.extensions import db
from app.insight import operations
from app.insight.operations_models import ProductViewDay
from app.orders.models import Order
from tests.insight.conftest import ago, at
from tests.support.browser import Person

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


def test_ops_reads_the_operations_figures_and_downloads_them(page, device, app, live_server, make_user, make_sku,
                                                             stock):
    me = Person(page, device)
    email = f"ops-dash-{device}@t.example"
    with app.app_context():
        make_user(Role.ops, email=email)
        sku = make_sku(brand="腾讯视频")
        make_sku(brand="爱奇艺")
        stock(sku, 6)
        for n in range(3):
            db.session.add(Order(order_no=order_no(), sku_id=sku, quantity=1, unit_price_fen=2800, amount_fen=2800,
                                 created_at=at(ago(1)), paid_at=at(ago(1)) if n else None,
                                 status="delivered" if n else "expired"))
        db.session.add(ProductViewDay(day=ago(1), sku_id=sku, views=30))
        db.session.commit()
        operations.rollup(ago(2), ago(1))

    page.goto(live_server + "/login")
    me.log_in(email, "/ops/")
    page.goto(live_server + "/ops/dashboard/operations?range=7d")
    expect(page.locator("[data-figure='views'] [data-value]")).to_have_text("30")
    expect(page.locator("[data-figure='orders'] [data-value]")).to_have_text("3")
    expect(page.locator("[data-figure='paid'] [data-value]")).to_have_text("2")
    expect(page.locator("#conversion-chart canvas")).to_have_count(1)
    expect(page.locator("#cover-chart canvas")).to_have_count(1)

    page.select_option("#op-brand", label="爱奇艺")
    page.locator("#operations-filter button[type=submit]").click()
    expect(page.locator("[data-figure='views'] [data-value]")).to_have_text("0")
    page.select_option("#op-brand", label="腾讯视频")
    page.locator("#operations-filter button[type=submit]").click()
    expect(page.locator("[data-figure='views'] [data-value]")).to_have_text("30")
    expect(page.locator("#conversion-chart canvas")).to_have_count(1)

    with page.expect_download() as got:
        page.locator("#operations-xlsx").click()
    book = openpyxl.load_workbook(io.BytesIO(open(got.value.path(), "rb").read()))
    conversion = list(book.worksheets[0].iter_rows(min_row=2, max_row=4, values_only=True))
    assert [row[1] for row in conversion] == [30, 3, 2]
