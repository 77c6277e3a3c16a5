"""`demo seed`: a realistic catalog with stock and the demo logins; a second run adds nothing."""

import sqlalchemy as sa

from app.accounts import services as accounts
from app.accounts.models import Role
from app.catalog.models import Brand, Sku
from app.core import vault
from app.demo import seed
from app.demo.catalog import PRODUCTS
from app.extensions import db
from app.fulfilment.models import Entitlement
from app.inventory.models import Code, ImportBatch
from app.ledger import services as ledger

EMAILS = ["consumer@example.com", "employee@example.com", "reseller@example.com", "hr@example.com",
          "approver@example.com", "finance@example.com", "ops@example.com"]


def _counts() -> dict:
    return {model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (Brand, Sku, Code, ImportBatch, Entitlement)}


def test_seed_twice_creates_nothing_new_and_the_logins_work(ctx, runner):
    first = seed.seed()
    assert first.users_created == 7 and first.codes_created >= 2000 and first.orders_created == 2
    counts = _counts()

    out = runner.invoke(args=["demo", "seed"])
    assert out.exit_code == 0, out.output
    for email in EMAILS:
        assert email in out.output
    assert "demo1234" in out.output
    db.session.expire_all()
    assert _counts() == counts

    for email in EMAILS:
        user = accounts.authenticate(email, "demo1234")
        assert user is not None, email
    roles = {e: accounts.find_by_email(e) for e in EMAILS}
    assert roles["hr@example.com"].role == Role.hr_admin
    assert roles["employee@example.com"].organization.name == "示例科技有限公司"
    assert roles["reseller@example.com"].organization.name == "示例渠道商"
    assert roles["reseller@example.com"].organization.kind == "reseller"


def test_seed_catalog_and_stock_are_realistic(ctx):
    seed.seed()
    brands = set(db.session.scalars(sa.select(Brand.name)))
    assert {"腾讯视频", "爱奇艺", "优酷", "芒果TV", "哔哩哔哩", "QQ音乐", "网易云音乐", "酷狗音乐", "美团外卖",
            "饿了么", "瑞幸咖啡", "星巴克", "王者荣耀", "原神", "网易有道", "得到"} <= brands
    skus = db.session.scalars(sa.select(Sku)).all()
    assert len(skus) == sum(len(p.skus) for p in PRODUCTS)
    for sku in skus:
        assert 0 < sku.price_fen < sku.face_value_fen, sku.sku
        assert sku.product.instructions_html.startswith("<ol>") and "<script" not in sku.product.instructions_html

    batches = db.session.scalars(sa.select(ImportBatch)).all()
    assert {b.source for b in batches} == {"cli"}
    assert sum(b.imported for b in batches) == db.session.scalar(sa.select(sa.func.count()).select_from(Code))
    with_secret = db.session.scalar(sa.select(sa.func.count()).select_from(Code).where(Code.secret_ct.is_not(None)))
    expiring = db.session.scalar(sa.select(sa.func.count()).select_from(Code).where(Code.expires_at.is_not(None)))
    assert with_secret > 0 and expiring > 0

    # Codes are encrypted; the plaintext is recoverable only through the vault and matches its digest and tail.
    code = db.session.scalars(sa.select(Code).where(Code.secret_ct.is_not(None)).limit(1)).one()
    plain = vault.open_sealed(code.data_key_id, code.code_ct)
    assert plain.encode() not in code.code_ct
    assert vault.code_digest(plain) == code.code_hash and plain.endswith(code.tail)
    assert vault.open_sealed(code.data_key_id, code.secret_ct)


def test_seed_gives_the_demo_consumer_delivered_benefits_with_a_balanced_ledger(ctx):
    seed.seed()
    consumer = accounts.find_by_email("consumer@example.com")
    owned = db.session.scalars(sa.select(Entitlement).where(Entitlement.owner_id == consumer.id)).all()
    assert len(owned) == 2
    assert {e.sku.sku for e in owned} == set(seed.CONSUMER_PURCHASES)
    assert sum(row["balance"] for row in ledger.trial_balance()) == 0
