"""XLSX uploads are checked before openpyxl parses them: a few hundred KB of zip that would inflate past
XLSX_MAX_UNCOMPRESSED (or far too tightly) is refused with a clear error and nothing is imported."""

import io
import zipfile

import openpyxl
import pytest
import sqlalchemy as sa

from app.inventory.models import Code, ImportBatch
from app.procurement.models import Employee

MB = 1024 * 1024


def bomb(rows: list[list], inflated_mb: int = 60) -> bytes:
    """A real workbook whose sharedStrings.xml is replaced by `inflated_mb` MB of one repeated byte."""
    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    real = io.BytesIO()
    wb.save(real)
    out = io.BytesIO()
    with zipfile.ZipFile(real) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename != "xl/sharedStrings.xml":
                dst.writestr(item, src.read(item))
        with dst.open("xl/sharedStrings.xml", "w", force_zip64=True) as w:
            chunk = b"A" * MB
            for _ in range(inflated_mb):
                w.write(chunk)
    return out.getvalue()


def test_openpyxl_parses_with_defusedxml():
    assert openpyxl.DEFUSEDXML is True


@pytest.fixture
def hr(client, login_as, make_company):
    company = make_company(employees=0)
    login_as(user_id=company.hr_id)
    return company


@pytest.mark.parametrize("lang, message", [("en", "would unpack to more than 50 MB"), ("zh_CN", "解压后超过 50 MB")])
def test_employee_import_refuses_a_bomb(client, hr, peek, lang, message):
    data = bomb([["姓名", "手机"], ["甲", "13800001111"]])
    assert len(data) < 400 * 1024
    client.post(f"/lang/{lang}")
    resp = client.post("/enterprise/employees/import", data={"file": (io.BytesIO(data), "staff.xlsx")},
                       content_type="multipart/form-data")
    assert resp.status_code == 422 and message in resp.get_data(as_text=True)
    assert peek.count(Employee) == 0


def test_code_import_refuses_a_bomb(client, login_as, peek, make_sku):
    login_as("ops")
    client.post("/lang/en")
    sku_id = make_sku()
    before = peek.count(Code)
    data = bomb([["code"], ["B-1"], ["B-2"]])
    resp = client.post("/ops/imports/new", data={"sku_id": str(sku_id), "file": (io.BytesIO(data), "codes.xlsx")},
                       content_type="multipart/form-data")
    batch = peek.first(sa.select(ImportBatch).order_by(ImportBatch.id.desc()))
    page = client.get(resp.headers["Location"]).get_data(as_text=True) if resp.status_code == 303 else \
        resp.get_data(as_text=True)
    assert "would unpack to more than 50 MB" in page
    assert peek.count(Code) == before and batch.imported == 0


def test_a_tightly_packed_member_is_refused_under_the_size_cap(client, login_as, peek, make_sku):
    """5 MB is under the 50 MB cap, but 5 MB of one byte packs ~1000:1: no spreadsheet does that."""
    login_as("ops")
    client.post("/lang/en")
    sku_id = make_sku()
    resp = client.post("/ops/imports/new", data={"sku_id": str(sku_id),
                                                 "file": (io.BytesIO(bomb([["code"], ["T-1"]], 5)), "c.xlsx")},
                       content_type="multipart/form-data")
    page = client.get(resp.headers["Location"]).get_data(as_text=True) if resp.status_code == 303 else \
        resp.get_data(as_text=True)
    assert "packed suspiciously tightly" in page
    assert peek.count(Code, Code.sku_id == sku_id) == 0
