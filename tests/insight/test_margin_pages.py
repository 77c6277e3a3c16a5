"""The finance margin page as finance enters it: /finance/margin with the period and `by` in the query string;
the table, the chart's data, the XLSX download (its numbers are the table's), both languages, bad arguments
answered with a clear message and a 400, finance only."""

import io
import json
import re
from datetime import datetime

import openpyxl
import pytest

from app.accounts.models import Role
from app.extensions import db
from app.insight import periods
from app.ledger import services as ledger
from tests.support import margin as sales

NOW = datetime(2026, 11, 20, 4)


@pytest.fixture
def sold(app, monkeypatch, make_user, make_sku):
    monkeypatch.setattr(ledger, "utcnow", sales.Clock(NOW))
    monkeypatch.setattr(periods, "utcnow", lambda: datetime(2026, 11, 25, 4))
    with app.app_context():
        video = make_sku(price="30.00", brand="腾讯视频", name="腾讯视频 月卡")
        sup = sales.supplier("上游甲")
        o = sales.order(video, unit_price_fen=3000)
        sales.unit(o, amount=2500, discount=500)
        sales.unit(o, amount=3000, supplier_id=sup, cost=2000)
        db.session.commit()
    return {"video": video, "sup": sup}


URL = "/finance/margin?range=month&month=2026-11"


def test_finance_reads_the_table_in_chinese(client, login_as, sold):
    login_as(Role.finance)
    html = client.get(URL + "&by=sku").get_data(as_text=True)
    assert "毛利分析" in html and "腾讯视频 月卡" in html
    row = re.search(rf'<tr data-key="{sold["video"]}">(.*?)</tr>', html, re.S).group(1)
    assert "¥60.00" in row and "¥5.00" in row and "¥55.00" in row and "¥20.00" in row and "¥35.00" in row
    assert "63.6%" in row
    chart = json.loads(re.search(r"data-chart='([^']*)'", html).group(1).replace("&#34;", '"'))
    assert chart["net"] == [55.0] and chart["margin"] == [35.0]


def test_english_and_every_grouping(client, login_as, sold):
    login_as(Role.finance)
    client.post("/lang/en")
    for by, name in [("brand", "腾讯视频"), ("channel", "Retail"), ("supplier", "上游甲"),
                     ("reseller", "Not a reseller order")]:
        resp = client.get(URL + f"&by={by}")
        html = resp.get_data(as_text=True)
        assert resp.status_code == 200 and "Gross margin" in html and name in html, by
    assert "Own stock" in client.get(URL + "&by=supplier").get_data(as_text=True)


def test_xlsx_holds_the_table_numbers(client, login_as, sold):
    login_as(Role.finance)
    resp = client.get(URL + "&by=supplier&format=xlsx")
    assert resp.status_code == 200 and resp.headers["Content-Disposition"].endswith('.xlsx"')
    ws = openpyxl.load_workbook(io.BytesIO(resp.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:3] == ("供应商", "收入", "折扣") or rows[0][0]
    body = {r[0]: r[1:] for r in rows[1:]}
    assert body["上游甲" + str(_n(body, "上游甲"))][:6] == (30.0, 0.0, 30.0, 20.0, 0.0, 10.0)
    assert rows[-1][1:7] == (60.0, 5.0, 55.0, 20.0, 0.0, 35.0)


def _n(body, prefix):
    return next(k for k in body if k.startswith(prefix))[len(prefix):]


@pytest.mark.parametrize("query, zh, en", [
    ("range=yesterday", "请选择今天", "Choose today, 7 days"),
    ("range=custom&from=2026-11-09&to=2026-11-01", "结束日期早于开始日期", "The last day comes before the first"),
    ("range=custom&from=nope&to=", None, None),
    ("range=month&month=2026-13", None, None),
    ("by=colour", "请按 SKU、品牌", "Group by SKU, brand"),
    ("range=custom&from=2024-01-01&to=2026-11-01", "最多选择", "Choose at most"),
])
def test_bad_arguments_get_a_clear_message(client, login_as, sold, query, zh, en):
    login_as(Role.finance)
    resp = client.get("/finance/margin?" + query)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "margin-error" in html and "margin-table" not in html
    if zh:
        assert zh in html
    client.post("/lang/en")
    html = client.get("/finance/margin?" + query).get_data(as_text=True)
    if en:
        assert en in html


def test_a_bad_grouping_and_a_bad_period_are_said_together(client, login_as):
    login_as(Role.finance)
    html = client.get("/finance/margin?range=week&by=colour").get_data(as_text=True)
    assert html.count("margin-error") == 2


@pytest.mark.parametrize("role", [Role.ops, Role.consumer, Role.reseller])
def test_finance_only(client, login_as, role):
    login_as(role)
    assert client.get("/finance/margin").status_code in (403, 404)
    assert client.get("/finance/margin?format=xlsx").status_code in (403, 404)


def test_a_guest_is_sent_to_log_in(client):
    assert client.get("/finance/margin").status_code in (302, 303)


def test_an_empty_period_says_so(client, login_as):
    login_as(Role.finance)
    html = client.get("/finance/margin?range=custom&from=2020-01-01&to=2020-01-31").get_data(as_text=True)
    assert "该期间没有记账" in html

