"""The operations section over HTTP, as ops open it: only ops get it; a full page or the dashboard's fragment;
Chinese by default and English by switch; bad arguments get a clear message (422) and never a 500; the XLSX
opens with openpyxl and holds the numbers the page shows, and its download is audited."""

import io

import openpyxl
import pytest
import sqlalchemy as sa
from flask_babel import refresh

from app.core.models import AuditLog
from app.extensions import db
from app.insight import operations as ops
from app.insight.lag import bucket, hours
from app.insight.operations_models import ProductViewDay
from tests.insight.conftest import ago, at

URL = "/ops/dashboard/operations"


@pytest.mark.parametrize("role, status", [("consumer", 403), ("finance", 403), ("reseller", 403), ("ops", 200)])
def test_only_ops_see_it(client, login_as, role, status):
    login_as(role)
    assert client.get(URL).status_code == status
    assert client.get(URL + ".xlsx").status_code == status


def test_guests_are_sent_to_sign_in(client):
    resp = client.get(URL)
    assert resp.status_code in (302, 303) and "/login" in resp.headers["Location"]


def _english(client) -> None:
    """Switch the client to English; the test's app context (ctx, shared with the requests) forgets its locale."""
    client.post("/lang/en")
    refresh()


def _seed(app, make_sku, seed_order, seed_unit):
    sku = make_sku(name="季卡")
    seed_order(sku, at(ago(2)), at(ago(2)))
    seed_order(sku, at(ago(2)), None)
    d = at(ago(2), 1)
    seed_unit(sku, d, reveals=(at(ago(2), 3),))
    db.session.add(ProductViewDay(day=ago(2), sku_id=sku, views=40))
    db.session.commit()
    ops.rollup(ago(3), ago(1))
    return sku


def test_the_page_in_chinese_and_english(app, client, login_as, make_sku, seed_order, seed_unit, ctx):
    _seed(app, make_sku, seed_order, seed_unit)
    login_as("ops")
    page = client.get(URL + "?range=7d").get_data(as_text=True)
    assert "运营数据" in page and "核销时滞" in page and "库存可售天数" in page and "<html" in page
    assert 'data-figure="views"' in page and 'data-echarts=' in page
    _english(client)
    page = client.get(URL + "?range=7d").get_data(as_text=True)
    assert "Operations figures" in page and "Redemption lag" in page and "核销时滞" not in page


def test_the_dashboard_gets_the_section_alone(client, login_as):
    login_as("ops")
    resp = client.get(URL + "?range=30d", headers={"HX-Request": "true"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "HX-Request" in resp.headers["Vary"]
    assert body.lstrip().startswith('<section id="ops-operations"') and "<html" not in body


@pytest.mark.parametrize("query", ["range=year", "range=custom&from=2026-13-01&to=2026-12-01",
                                   "range=custom&from=2026-12-05&to=2026-12-01", "range=custom",
                                   "range=month&month=2026-99", "range=custom&from=2024-01-01&to=2026-01-01",
                                   "brand=abc", "brand=999999", "brand=-1", "brand=99999999999999999999"])
def test_bad_arguments_get_a_clear_message(client, login_as, query):
    login_as("ops")
    client.post("/lang/en")
    for url in (f"{URL}?{query}", f"{URL}.xlsx?{query}"):
        resp = client.get(url)
        assert resp.status_code == 422, url
        assert 'id="operations-errors"' in resp.get_data(as_text=True)


def test_a_bad_brand_is_explained_in_chinese(client, login_as):
    login_as("ops")
    assert "请从列表中选择品牌。" in client.get(URL + "?brand=abc").get_data(as_text=True)


def test_the_xlsx_holds_the_page_numbers(app, client, login_as, make_sku, seed_order, seed_unit, ctx):
    _seed(app, make_sku, seed_order, seed_unit)
    uid = login_as("ops")
    _english(client)
    resp = client.get(URL + ".xlsx?range=7d")
    assert resp.status_code == 200 and resp.headers["Content-Disposition"].startswith("attachment")
    book = openpyxl.load_workbook(io.BytesIO(resp.data))
    assert book.sheetnames == ["Conversion", "Daily", "Redemption lag", "Stock cover", "Suppliers", "Campaigns"]
    conversion = {r[0]: r[1] for r in book["Conversion"].iter_rows(min_row=2, values_only=True)}
    assert (conversion["Product page views"], conversion["Orders"], conversion["Paid orders"]) == (40, 3, 2)
    assert conversion["Orders to paid (%)"] == pytest.approx(66.67)
    lag = {r[0]: r[1] for r in book["Redemption lag"].iter_rows(min_row=2, values_only=True)}
    assert (lag["Units delivered"], lag["Median (hours)"]) == (1, round(hours(bucket(2 * 3600)), 2))  # 2 h's bucket
    daily = list(book["Daily"].iter_rows(min_row=2, values_only=True))
    assert len(daily) == 7 and (ago(2).isoformat(), 40, 3, 2, 2) in daily
    page = client.get(URL + "?range=7d").get_data(as_text=True)
    assert 'data-figure="views"' in page and ">40</p>" in page
    audited = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "insight.operations_export")).all()
    assert [a.actor_id for a in audited] == [uid] and audited[0].detail == {"range": "7d"}
