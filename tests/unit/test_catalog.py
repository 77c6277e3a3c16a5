"""Catalog services: sanitised instructions, SKU rules, derived stock counts."""

import pytest
import sqlalchemy as sa

from app.catalog import services as catalog
from app.catalog.models import Brand, Sku
from app.core.errors import NotFound, ValidationError
from app.core.models import AuditLog
from app.extensions import db
from app.inventory import services as inventory


def test_instructions_keep_basic_tags_and_drop_the_rest():
    dirty = ('<h3>兑换</h3><p onclick="x()">打开 <strong>App</strong> <em>我的</em><br>'
             '<a href="https://v.qq.com" target="_blank">官网</a> <a href="javascript:alert(1)">坏</a></p>'
             '<script>alert(1)</script><ul><li>一</li></ul><ol><li>二</li></ol><h4>注意</h4>'
             '<img src=x onerror=alert(1)><iframe src="https://evil"></iframe><h1>big</h1>')
    clean = catalog.sanitize_instructions(dirty)
    for kept in ("<h3>兑换</h3>", "<strong>App</strong>", "<em>我的</em>", "<br>", "<ul><li>一</li></ul>",
                 "<ol><li>二</li></ol>", "<h4>注意</h4>", 'href="https://v.qq.com"'):
        assert kept in clean
    for dropped in ("script", "onclick", "javascript:", "<img", "onerror", "iframe", "target=", "<h1>"):
        assert dropped not in clean
    assert 'rel="noopener noreferrer"' in clean
    assert catalog.sanitize_instructions(None) == ""


def test_product_stores_sanitised_instructions(ctx):
    brand = catalog.create_brand(None, "爱奇艺", "video")
    product = catalog.create_product(None, brand.id, "爱奇艺 黄金VIP", "video", "<p>ok</p><script>bad()</script>")
    assert product.instructions_html == "<p>ok</p>"
    catalog.update_product(None, product.id, brand.id, "爱奇艺 黄金VIP", "video", '<p style="x">新</p>')
    assert db.session.get(type(product), product.id).instructions_html == "<p>新</p>"


def test_brand_names_are_unique_and_categories_checked(ctx):
    catalog.create_brand(None, "网易云音乐", "music")
    with pytest.raises(ValidationError) as e:
        catalog.create_brand(None, " 网易云音乐 ", "music")
    assert e.value.details["field"] == "name"
    with pytest.raises(ValidationError):
        catalog.create_brand(None, "新品牌", "cars")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Brand).where(Brand.name == "新品牌")) == 0


def _product(ctx):
    brand = catalog.create_brand(None, "星巴克", "coffee")
    return catalog.create_product(None, brand.id, "星巴克 中杯", "coffee", "")


def test_create_sku_validates_and_audits(ctx):
    product = _product(ctx)
    sku = catalog.create_sku(None, product.id, "SBUX-TALL", name="中杯拿铁", type="card_code",
                             face_value_fen=3300, price_fen=2900, validity_days=90)
    assert (sku.price_fen, sku.validity_days, sku.active) == (2900, 90, True)
    assert db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "catalog.sku_create")).first()
    bad = [
        ({"sku": "SBUX-TALL"}, "sku"), ({"sku": "bad code"}, "sku"), ({"type": "voucher"}, "type"),
        ({"price_fen": -1}, "price_fen"), ({"face_value_fen": "30"}, "face_value_fen"),
        ({"validity_days": 0}, "validity_days"), ({"name": " "}, "name"),
    ]
    for change, field in bad:
        fields = {"sku": "SBUX-GRANDE", "name": "大杯", "type": "card_code", "face_value_fen": 3600,
                  "price_fen": 3200, **change}
        code = fields.pop("sku")
        with pytest.raises(ValidationError) as e:
            catalog.create_sku(None, product.id, code, **fields)
        assert e.value.details["field"] == field
    assert catalog.find_sku("SBUX-GRANDE") is None
    with pytest.raises(NotFound):
        catalog.create_sku(None, 999999, "X-1", name="x", face_value_fen=1, price_fen=1)


def test_all_four_types_can_be_modelled(ctx):
    product = _product(ctx)
    for t in ("card_code", "direct_topup", "link", "bundle"):
        catalog.create_sku(None, product.id, f"T-{t}", name=t, type=t, face_value_fen=100, price_fen=90)
    assert {s.type for s in catalog.list_skus(product.id)} == {"card_code", "direct_topup", "link", "bundle"}


def test_update_sku_keeps_the_type_once_codes_exist(ctx, make_sku, stock):
    sku_id = make_sku()
    sku = catalog.update_sku(None, sku_id, name="新名字", price_fen=2500, active=False)
    assert (sku.name, sku.price_fen, sku.active) == ("新名字", 2500, False)
    stock(sku_id, n=1)
    with pytest.raises(ValidationError):
        catalog.update_sku(None, sku_id, type="link")
    assert db.session.get(Sku, sku_id).type == "card_code"
    # The SKU code is not an editable field.
    catalog.update_sku(None, sku_id, sku="RENAMED")
    assert db.session.get(Sku, sku_id).sku != "RENAMED"


def test_add_sku_creates_brand_and_product_or_nothing(ctx):
    sku = catalog.add_sku(None, "ADD-1", name="咖啡券", type="card_code", face_value_fen=3000, price_fen=2800,
                          brand="瑞幸", category="coffee")
    assert (sku.product.brand.name, sku.product.name, sku.product.category) == ("瑞幸", "咖啡券", "coffee")
    with pytest.raises(ValidationError):
        catalog.add_sku(None, "ADD-1", name="x", type="card_code", face_value_fen=1, price_fen=1, brand="新的")
    assert db.session.scalar(sa.select(Brand.id).where(Brand.name == "新的")) is None


def test_stock_table_counts_from_the_rows_and_flags_low_stock(ctx, make_sku, stock):
    from datetime import datetime

    from app.inventory.models import Code

    plenty, low, empty_link = make_sku(), make_sku(), make_sku(type_="link")
    stock(plenty, n=5)
    stock(low, n=2)
    stock(low, n=1, expires_at=datetime(2020, 1, 1))
    db.session.execute(sa.update(Code).where(Code.sku_id == plenty).values(status="delivered")
                       .where(Code.id == db.session.scalar(sa.select(sa.func.min(Code.id))
                                                           .where(Code.sku_id == plenty))))
    rows = {r["sku"].id: r for r in inventory.stock_table(low_stock=3)}
    row = rows[plenty]
    assert (row["sellable"], row["counts"]["delivered"], row["low"]) == (4, 1, False)
    assert (rows[low]["sellable"], rows[low]["expired"], rows[low]["low"]) == (2, 1, True)
    assert rows[empty_link]["low"] is False
