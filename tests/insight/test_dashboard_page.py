import io

import openpyxl
import pytest

from tests.insight.conftest import at, days_ago


@pytest.fixture
def sold(seeder, two_skus):
    a, b = two_skus
    o = seeder.order(a, paid_at=at(days_ago(1)), amount_fen=12345)
    seeder.order(b, paid_at=at(days_ago(0)), amount_fen=655, channel="reseller")
    seeder.refund(o, 345, at(days_ago(0)))
    return a, b


def test_ops_sees_figures_in_english_and_chinese(app, client, login_as, sold):
    login_as("ops")
    client.post("/lang/en")
    html = client.get("/ops/?range=7d").get_data(as_text=True)
    assert "GMV" in html and "¥130.00" in html and 'id="dashboard-operations"' in html and "stock-table" in html
    client.post("/lang/zh_CN")
    html = client.get("/ops/?range=7d").get_data(as_text=True)
    assert "¥130.00" in html and "支付订单" in html


@pytest.mark.parametrize("role", ["consumer", "finance", "reseller"])
def test_only_ops(client, login_as, role):
    login_as(role)
    assert client.get("/ops/").status_code in (302, 403, 404)
    assert client.get("/ops/dashboard/all.xlsx").status_code in (302, 403, 404)


@pytest.mark.parametrize("query", ["range=year", "range=custom&from=2026-13-01&to=x", "range=month&month=nope",
                                   "brand=abc", "brand=999999", "channel=shop", "range=custom&from=2026-02-01&to=2026-01-01"])
def test_bad_arguments_say_why(client, login_as, query):
    login_as("ops")
    client.post("/lang/en")
    r = client.get(f"/ops/?{query}")
    assert r.status_code == 400
    assert 'id="dashboard-errors"' in r.get_data(as_text=True)
    assert client.get(f"/ops/dashboard/all.xlsx?{query}").status_code == 400
    client.post("/lang/zh_CN")
    html = client.get(f"/ops/?{query}").get_data(as_text=True)
    assert 'id="dashboard-errors"' in html


def test_xlsx_holds_the_figures(client, login_as, sold):
    login_as("ops")
    client.post("/lang/en")
    r = client.get("/ops/dashboard/all.xlsx?range=7d")
    assert r.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(r.data))
    figures = {row[0]: row[1] for row in book["Figures"].iter_rows(min_row=2, values_only=True)}
    assert figures["GMV"] == 130.0 and figures["Paid orders"] == 2 and figures["Refunds"] == 3.45
    channels = {row[0]: row[1] for row in book["By channel"].iter_rows(min_row=2, values_only=True)}
    assert channels == {"Retail": 123.45, "Reseller": 6.55}
    one = openpyxl.load_workbook(io.BytesIO(client.get("/ops/dashboard/skus.xlsx?range=7d").data))
    assert [r[1] for r in one.active.iter_rows(min_row=2, values_only=True)] == [123.45, 6.55]
    assert client.get("/ops/dashboard/nope.xlsx").status_code == 404


def test_brand_and_channel_filter(app, client, login_as, sold):
    from app.catalog.models import Sku
    from app.extensions import db

    a, _b = sold
    with app.app_context():
        brand = db.session.get(Sku, a).product.brand_id
    login_as("ops")
    html = client.get(f"/ops/?range=7d&brand={brand}").get_data(as_text=True)
    assert "¥123.45" in html and "¥130.00" not in html
    html = client.get("/ops/?range=7d&channel=reseller").get_data(as_text=True)
    assert "¥6.55" in html and "¥130.00" not in html


def test_statements_do_not_grow_with_days_or_skus(app, client, login_as, seeder, make_sku, count_queries):
    from app.insight import rollups

    login_as("ops")
    skus = [make_sku(brand=f"B{i}") for i in range(2)]
    for n, s in enumerate(skus):
        seeder.order(s, paid_at=at(days_ago(n + 1)))
    with app.app_context():
        rollups.rebuild(days_ago(40), days_ago(1))
    with count_queries() as small:
        assert client.get("/ops/?range=30d").status_code == 200
    more = [make_sku(brand=f"C{i}") for i in range(6)]
    for n, s in enumerate(more * 3):
        seeder.order(s, paid_at=at(days_ago(n % 25 + 1)), buyer=n % 3)
    with app.app_context():
        rollups.rebuild(days_ago(40), days_ago(1))
    with count_queries() as big:
        assert client.get("/ops/?range=30d").status_code == 200
    # the stock table below (another part of the page) reads per SKU in bulk too
    assert big.n == small.n
