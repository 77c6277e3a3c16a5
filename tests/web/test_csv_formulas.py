"""Exports never carry a live spreadsheet formula: CSV cells that start with = + - @ tab or CR get a leading
quote (plain numbers such as money stay numbers), and XLSX text cells are strings."""

import csv
import io

import openpyxl
import pytest
import sqlalchemy as sa

from app.catalog.models import Sku
from app.channels import wholesale
from app.channels.models import BalanceTopup, Reseller
from app.extensions import db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
FORMULA = '=HYPERLINK("http://x","y")'


def rows(resp) -> list[list[str]]:
    assert resp.status_code == 200
    return list(csv.reader(io.StringIO(resp.get_data().decode("utf-8-sig"))))


def test_a_transfer_reference_reaches_the_journal_neutralised(app, client, login_as, make_reseller):
    info = make_reseller(balance="0.00")
    login_as(user_id=info["user_id"])
    resp = client.post("/reseller/balance/topups", data={"amount": "100.00", "transfer_ref": FORMULA,
                                                         "receipt": (io.BytesIO(PNG), "slip.png", "image/png")})
    assert resp.status_code == 303
    with app.app_context():
        tid = db.session.scalar(sa.select(BalanceTopup.id).where(BalanceTopup.reseller_id == info["id"]))
    login_as("finance")
    assert client.post(f"/finance/topups/{tid}/approve", data={"note": ""}).status_code == 303

    table = rows(client.get("/finance/journal.csv"))
    memo = table[0].index(table[0][3])
    mine = [r for r in table[1:] if FORMULA in r[memo]]
    assert mine and all(r[memo] == "'" + FORMULA for r in mine)
    amounts = [r[7] or r[8] for r in mine]
    assert amounts == ["100.00", "100.00"]  # money stays a plain number

    book = openpyxl.load_workbook(io.BytesIO(client.get("/finance/journal.xlsx").get_data()))
    cells = [c for row in book.active.iter_rows() for c in row if c.value and FORMULA in str(c.value)]
    assert cells and all(c.data_type == "s" and c.value == FORMULA for c in cells)


@pytest.mark.parametrize("code", ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1+1"])
def test_a_code_in_the_resellers_codes_csv_is_neutralised(app, client, login_as, make_reseller, make_sku, stock,
                                                          code):
    info = make_reseller()
    sku_id = make_sku()
    stock(sku_id, 1, codes=[code])
    with app.app_context():
        order, _ = wholesale.place(db.session.get(Reseller, info["id"]), None, sku=db.session.get(Sku, sku_id).sku,
                                   quantity=1, client_order_no="F-1")
        no = order.order_no
    login_as(user_id=info["user_id"])
    table = rows(client.get(f"/reseller/orders/{no}/codes.csv"))
    assert table[1][0] == "'" + code
    sheet = openpyxl.load_workbook(io.BytesIO(client.get(f"/reseller/orders/{no}/codes.xlsx").get_data())).active
    assert sheet["A2"].data_type == "s" and sheet["A2"].value == code
