"""`catalog add-sku` and `codes import`: output shapes, exit codes, and nothing changed on bad input."""

import json

import openpyxl
import pytest
import sqlalchemy as sa

from app.catalog.models import Brand, Product, Sku
from app.extensions import db
from app.inventory.models import Code, ImportBatch

ADD = ["catalog", "add-sku", "--sku", "CLI-VIP-30", "--name", "腾讯视频 月卡", "--type", "card_code",
       "--face-value", "30.00", "--price", "28.00"]


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_add_sku_prints_the_sku_as_json(ctx, runner):
    result = runner.invoke(args=ADD)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    sku = db.session.scalars(sa.select(Sku).where(Sku.sku == "CLI-VIP-30")).one()
    assert out == {"sku": "CLI-VIP-30", "id": sku.id, "name": "腾讯视频 月卡", "type": "card_code",
                   "face_value": "30.00", "price": "28.00", "validity_days": 365, "product": "腾讯视频 月卡",
                   "brand": "其他", "category": "other", "active": True}
    assert (sku.face_value_fen, sku.price_fen) == (3000, 2800)


def test_add_sku_with_brand_category_and_validity(ctx, runner):
    args = [*ADD[:3], "CLI-QQ-1", *ADD[4:], "--brand", "QQ音乐", "--category", "music", "--validity-days", "31",
            "--product", "QQ音乐 绿钻"]
    out = json.loads(runner.invoke(args=args).stdout)
    assert (out["brand"], out["category"], out["validity_days"], out["product"]) == ("QQ音乐", "music", 31,
                                                                                      "QQ音乐 绿钻")
    # A second SKU reuses the brand and product.
    runner.invoke(args=[*ADD[:3], "CLI-QQ-2", *ADD[4:], "--brand", "QQ音乐", "--product", "QQ音乐 绿钻"])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Brand).where(Brand.name == "QQ音乐")) == 1
    assert len(db.session.scalars(sa.select(Product).where(Product.name == "QQ音乐 绿钻")).one().skus) == 2


@pytest.mark.parametrize("change", [
    {"--price": "abc"}, {"--face-value": "-1"}, {"--price": "28.005"}, {"--type": "voucher"},
    {"--sku": "has space"}, {"--name": "   "},
])
def test_add_sku_bad_input_fails_and_changes_nothing(ctx, runner, change):
    args = list(ADD)
    for opt, value in change.items():
        args[args.index(opt) + 1] = value
    before = (count(Sku), count(Brand), count(Product))
    result = runner.invoke(args=[*args, "--brand", "全新品牌"])
    assert result.exit_code != 0
    assert result.stdout == ""
    assert result.stderr.strip()
    assert (count(Sku), count(Brand), count(Product)) == before


def test_add_sku_duplicate_fails_and_changes_nothing(ctx, runner):
    assert runner.invoke(args=ADD).exit_code == 0
    before = (count(Sku), count(Brand), count(Product))
    result = runner.invoke(args=[*ADD[:-2], "--price", "1.00", "--brand", "另一个品牌"])
    assert result.exit_code == 1
    assert "CLI-VIP-30" in result.stderr and result.stdout == ""
    assert (count(Sku), count(Brand), count(Product)) == before
    assert db.session.scalars(sa.select(Sku).where(Sku.sku == "CLI-VIP-30")).one().price_fen == 2800


def _sku(make_sku) -> str:
    return db.session.get(Sku, make_sku()).sku


def test_codes_import_prints_exactly_the_contract(ctx, runner, make_sku, stock, tmp_path):
    code = _sku(make_sku)
    stock(make_sku(), codes=["IN-STOCK-1"])
    path = tmp_path / "codes.csv"
    path.write_text("code,secret,expires_at\nC-1,s,2031-01-01\nC-2,,\nC-1,,\nIN-STOCK-1,,\n",
                    encoding="utf-8-sig")
    result = runner.invoke(args=["codes", "import", "--sku", code, str(path)])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"imported": 2, "duplicates": 2, "rejected": []}
    assert result.stdout.count("\n") == 1
    batch = db.session.scalars(sa.select(ImportBatch).order_by(ImportBatch.id.desc())).first()
    assert (batch.source, batch.actor_id, batch.filename, batch.status) == ("cli", None, "codes.csv", "done")


def test_codes_import_xlsx(ctx, runner, make_sku, tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["code"])
    wb.active.append(["XL-1"])
    wb.save(tmp_path / "c.xlsx")
    result = runner.invoke(args=["codes", "import", "--sku", _sku(make_sku), str(tmp_path / "c.xlsx")])
    assert json.loads(result.stdout) == {"imported": 1, "duplicates": 0, "rejected": []}


def test_codes_import_rejected_file_exits_non_zero_with_json_and_message(ctx, runner, make_sku, tmp_path):
    code = _sku(make_sku)
    path = tmp_path / "bad.csv"
    path.write_bytes(b"code,expires_at\nOK-1,2031-01-01\n,2031-01-01\nOK-2,someday\n\xff\n")
    before = count(Code)
    result = runner.invoke(args=["codes", "import", "--sku", code, str(path)])
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert set(out) == {"imported", "duplicates", "rejected"}
    assert (out["imported"], out["duplicates"]) == (0, 0)
    assert [r["line"] for r in out["rejected"]] == [3, 4, 5]
    assert all(set(r) == {"line", "reason"} and isinstance(r["reason"], str) and r["reason"]
               for r in out["rejected"])
    assert "rejected" in result.stderr
    assert count(Code) == before


def test_codes_import_unknown_sku(ctx, runner, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("code\nA\n")
    before = count(ImportBatch)
    result = runner.invoke(args=["codes", "import", "--sku", "NOPE", str(path)])
    assert result.exit_code == 1 and "NOPE" in result.stderr and result.stdout == ""
    assert count(ImportBatch) == before


def test_codes_import_missing_file(ctx, runner, make_sku):
    result = runner.invoke(args=["codes", "import", "--sku", _sku(make_sku), "/nonexistent/codes.csv"])
    assert result.exit_code != 0 and result.stderr
