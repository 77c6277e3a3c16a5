"""`demo seed`: a realistic catalog with stock, the sandbox supplier and the demo logins; a second run adds
nothing."""

import sqlalchemy as sa

from app.accounts import services as accounts
from app.accounts.models import Organization, Role, User
from app.catalog.models import Brand, BundleComponent, Partner, Sku
from app.core import vault
from app.core.models import AuditLog
from app.core.money import parse_yuan
from app.demo import seed
from app.demo.catalog import PRODUCTS
from app.extensions import db
from app.fulfilment import services as fulfilment
from app.fulfilment.models import Delivery, Entitlement
from app.inventory import sealing
from app.inventory.models import Code, ImportBatch
from app.ledger import services as ledger
from app.ledger.models import JournalEntry
from app.loyalty.models.levels import MemberLevel
from app.loyalty.models.points import MallItem, PointsEntry, PointsLot, PointsSettings
from app.loyalty.models.referral import ReferralRate
from app.loyalty.models.subscriptions import SubscriptionPlan
from app.loyalty.models.wallet import StoredValueProduct
from app.notifications.models import Notification
from app.orders import services as orders
from app.orders.models import Order
from app.procurement.models import (
    ApprovalRule,
    ApprovalStep,
    Budget,
    Department,
    Employee,
    Enterprise,
    Grant,
    Invoice,
    Pack,
    PackItem,
    ProcurementRequest,
    RequestEvent,
)
from app.suppliers import services as suppliers
from app.suppliers.models import Supplier, SupplierProduct

EMAILS = ["consumer@example.com", "employee@example.com", "reseller@example.com", "hr@example.com",
          "approver@example.com", "finance-approver@example.com", "director@example.com", "finance@example.com",
          "finance2@example.com", "ops@example.com", "service@example.com", "admin@example.com"]


def _counts() -> dict:
    return {model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (Brand, Sku, BundleComponent, Code, ImportBatch, Entitlement, Delivery, Order,
                          Supplier, SupplierProduct, AuditLog, User, Organization, Enterprise, Department, Employee,
                          Budget, ApprovalRule, Pack, PackItem, ProcurementRequest, ApprovalStep, RequestEvent,
                          Grant, Invoice, JournalEntry, Notification, MemberLevel, PointsSettings, MallItem,
                          PointsLot, PointsEntry, StoredValueProduct, SubscriptionPlan, ReferralRate)}


def _sku(code: str) -> Sku:
    return db.session.scalars(sa.select(Sku).where(Sku.sku == code)).one()


def test_seed_twice_creates_nothing_new_and_the_logins_work(ctx, runner):
    first = seed.seed()
    assert first.users_created == 12 and first.codes_created >= 2000 and first.orders_created == 5
    assert first.suppliers_created == 1 and first.mappings_created == 5
    counts = _counts()

    out = runner.invoke(args=["demo", "seed", "--force-demo"])  # the suite may run on PostgreSQL
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
    assert roles["hr@example.com"].role == Role.hr_admin and roles["admin@example.com"].role == Role.admin
    assert roles["employee@example.com"].organization.name == "示例科技有限公司"
    assert roles["reseller@example.com"].organization.name == "示例渠道商"
    assert roles["reseller@example.com"].organization.kind == "reseller"


def test_seed_catalog_and_stock_are_realistic(ctx):
    seed.seed()
    brands = set(db.session.scalars(sa.select(Brand.name)))
    assert {"腾讯视频", "爱奇艺", "优酷", "芒果TV", "哔哩哔哩", "QQ音乐", "网易云音乐", "酷狗音乐", "美团外卖",
            "饿了么", "瑞幸咖啡", "星巴克", "王者荣耀", "原神", "网易有道", "得到", "中国移动", "喜马拉雅"} <= brands
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
    plain = sealing.reveal(code)["code"]
    assert plain.encode() not in code.code_ct
    assert vault.code_digest(plain) == code.code_hash and plain.endswith(code.tail)
    assert sealing.reveal(code)["secret"]


def test_seed_gives_the_demo_consumer_delivered_benefits_with_a_balanced_ledger(ctx):
    seed.seed()
    consumer = accounts.find_by_email("consumer@example.com")
    owned = db.session.scalars(sa.select(Entitlement).where(Entitlement.owner_id == consumer.id)).all()
    assert len(owned) == 2
    assert {e.sku.sku for e in owned} == set(seed.CONSUMER_PURCHASES)
    assert sum(row["balance"] for row in ledger.trial_balance()) == 0


def test_seed_sells_every_product_type_through_the_sandbox_supplier(ctx, app):
    seed.seed()
    supplier = suppliers.by_code(seed.SANDBOX_SUPPLIER)
    assert supplier.name == "沙箱供应商" and supplier.adapter == "signed_json" and supplier.partner_id == "quanyi"
    assert supplier.base_url == app.config["SUPPLIER_SANDBOX_URL"].rstrip("/")
    assert vault.open_sealed(supplier.data_key_id, supplier.key_ct) == app.config["SUPPLIER_SANDBOX_KEY"]
    mapped = {m.sku.sku: m.product_id for m in db.session.scalars(sa.select(SupplierProduct))}
    assert mapped == {"CMCC-TOPUP-50": "topup-cmcc-50", "QQMUSIC-TOPUP-1M": "topup-qqmusic-1m",
                      "HOK-TOPUP-60": "topup-wzry-60", "IQIYI-PLAT-1M": "card-iqiyi-platinum-1m",
                      "MGTV-VIP-12M": "card-mgtv-12m"}
    for m in db.session.scalars(sa.select(SupplierProduct)):
        assert 0 < m.cost_fen < m.sku.price_fen, m.sku.sku

    topups = {code: _sku(code) for code in ("CMCC-TOPUP-50", "QQMUSIC-TOPUP-1M", "HOK-TOPUP-60")}
    assert {c: (s.type, s.source, s.account_format) for c, s in topups.items()} == {
        "CMCC-TOPUP-50": ("direct_topup", "supplier", "mobile"),
        "QQMUSIC-TOPUP-1M": ("direct_topup", "supplier", "qq"),
        "HOK-TOPUP-60": ("direct_topup", "supplier", "game_id")}
    assert _sku("IQIYI-PLAT-1M").source == "supplier" and _sku("IQIYI-PLAT-1M").type == "card_code"

    link = _sku("XMLY-VIP-1M")
    url = db.session.scalars(sa.select(Code).where(Code.sku_id == link.id).limit(1)).one()
    assert link.type == "link" and sealing.reveal(url)["code"].startswith("https://")

    shared = _sku("LUCKIN-99-SHARED")
    codes = db.session.scalars(sa.select(Code).where(Code.sku_id == shared.id)).all()
    assert shared.source == "shared" and [(c.max_uses, c.uses) for c in codes] == [(500, 0)]

    bundle = _sku("TXSP-QQMUSIC-1M")
    parts = [(c.component.sku, c.quantity) for c in bundle.components]
    assert bundle.type == "bundle" and parts == [("TXSP-VIP-1M", 1), ("QQMUSIC-TOPUP-1M", 1)]
    assert bundle.price_fen < sum(c.component.price_fen for c in bundle.components)

    replenished = _sku("MGTV-VIP-12M")
    assert (replenished.replenish_below, replenished.replenish_quantity) == (30, 50)
    assert replenished.source == "stock" and mapped["MGTV-VIP-12M"].startswith("card-")

    # Every SKU can be bought: stock, shared slots or a mapped supplier behind each unit.
    unbuyable = [s.sku for s in db.session.scalars(sa.select(Sku)) if not orders.orderable(s)]
    assert unbuyable == []


def test_seed_gives_the_demo_employee_a_top_up_to_redeem(ctx):
    seed.seed()
    employee = accounts.find_by_email("employee@example.com")
    [ent] = db.session.scalars(sa.select(Entitlement).where(Entitlement.owner_id == employee.id)).all()
    assert ent.sku.sku == seed.EMPLOYEE_PURCHASE == "QQMUSIC-TOPUP-1M"
    assert fulfilment.status_of(ent) == "unused" and ent.account is None
    assert fulfilment.delivery_of(ent).status == "awaiting_account"
    order = db.session.get(Order, ent.order_id)
    assert order.status == "delivered" and order.amount_fen == ent.sku.price_fen  # paid; awaits an account
    assert sum(row["balance"] for row in ledger.trial_balance()) == 0


def test_seed_points_the_sandbox_supplier_where_the_sandbox_runs(ctx, app, monkeypatch):
    seed.seed()
    supplier = suppliers.by_code(seed.SANDBOX_SUPPLIER)
    assert not seed.point_sandbox_supplier(supplier.base_url + "/", app.config["SUPPLIER_SANDBOX_KEY"])

    monkeypatch.setitem(app.config, "SUPPLIER_SANDBOX_URL", "http://127.0.0.1:6002")
    monkeypatch.setitem(app.config, "SUPPLIER_SANDBOX_KEY", "another-key")
    again = seed.seed()
    assert again.suppliers_created == again.mappings_created == again.orders_created == 0
    [supplier] = db.session.scalars(sa.select(Supplier)).all()
    assert supplier.base_url == "http://127.0.0.1:6002"
    assert vault.open_sealed(supplier.data_key_id, supplier.key_ct) == "another-key"


def test_seed_gives_the_demo_reseller_a_channel_account(ctx):
    from app.channels import balance, credentials, pools, pricing, resellers, wholesale
    from app.core.money import parse_yuan
    from app.demo.seed import DEMO_API_KEY, DEMO_API_SECRET, DEMO_BALANCE, DEMO_POOL, DEMO_WHOLESALE

    seed.seed()
    user = accounts.find_by_email("reseller@example.com")
    reseller = resellers.for_user(user)
    assert reseller is not None and reseller.tier.name == "金牌"
    cred = credentials.by_key(DEMO_API_KEY)
    assert cred.reseller_id == reseller.id and credentials.secret_of(cred) == DEMO_API_SECRET
    orders = db.session.scalars(sa.select(Order).where(Order.reseller_id == reseller.id)).all()
    assert len(orders) == len(DEMO_WHOLESALE) and all(o.status == "delivered" for o in orders)
    spent = sum(o.amount_fen for o in orders)
    assert balance.of(reseller.id) == parse_yuan(DEMO_BALANCE) - spent
    assert all(o.unit_price_fen == pricing.unit_price(reseller, o.sku) < o.sku.price_fen for o in orders)
    [pool] = pools.pools_of(reseller.id)
    assert pool["sku"].sku == DEMO_POOL[0] and pool["available"] == DEMO_POOL[1] - DEMO_WHOLESALE[0][1]
    assert wholesale.to_api(orders[0])["status"] == "delivered"
    assert sum(r["balance"] for r in ledger.trial_balance()) == 0


def test_seed_builds_the_demo_enterprise_through_its_flow(ctx):
    from app.accounts import activation
    from app.core.ids import utcnow
    from app.demo import enterprise as demo
    from app.procurement import approvers, budgets, claims, enterprises, requests

    seed.seed()
    people = {e: accounts.find_by_email(e) for e in EMAILS}
    ent = enterprises.for_user(people["hr@example.com"])
    assert ent.organization.name == "示例科技有限公司" and ent.organization.kind == "enterprise"
    assert ent.discount_bp == 1000
    for email in ("approver@example.com", "finance-approver@example.com", "director@example.com"):
        assert enterprises.for_user(people[email]).id == ent.id and people[email].role == Role.approver
    org = ent.organization_id
    approver = people["approver@example.com"]

    depts = {d.name: d for d in db.session.scalars(sa.select(Department).where(Department.organization_id == org))}
    assert set(depts) == {"研发部", "市场部", "行政部"} and {d.approver_id for d in depts.values()} == {approver.id}
    staff = db.session.scalars(sa.select(Employee).where(Employee.organization_id == org)).all()
    assert len(staff) == len(demo.EMPLOYEES) >= 12 and all(e.active for e in staff)
    me = next(e for e in staff if e.user_id == people["employee@example.com"].id)
    assert me.department.name == "研发部" and me.name == "李华"
    others = [e.user for e in staff if e is not me]
    assert sum(1 for u in others if u.email is None and u.phone) >= 3  # known by mobile number only
    assert all(u.role == Role.employee and u.organization_id == org for u in others)
    assert not any(activation.has_password(u) for u in others)  # they would set one through an activation link
    assert accounts.authenticate(others[0].email or others[0].phone, "demo1234") is None

    today = utcnow().date()
    for name, amount in demo.DEPARTMENTS:
        budget = budgets.covering(depts[name].id, today)
        assert budget is not None and budget.amount_fen == parse_yuan(amount) and budget.period == f"{today:%Y-%m}"
    rules = db.session.scalars(sa.select(ApprovalRule).where(ApprovalRule.organization_id == org)
                               .order_by(ApprovalRule.position)).all()
    assert [(r.min_amount_fen, r.label, r.kind, r.approver_id) for r in rules] == [
        (0, "部门审批人", "department_approver", None),
        (500000, "财务审批", "user", people["finance-approver@example.com"].id),
        (5000000, "总监审批", "user", people["director@example.com"].id)]

    packs = {p.name: p for p in db.session.scalars(sa.select(Pack).where(Pack.organization_id == org))}
    assert packs["新年礼包"].kind == "fixed" and len(packs["新年礼包"].items) == 2
    video = packs["影音会员任选"]
    assert video.kind == "choice" and len({i.sku.product.brand.name for i in video.items}) == 3
    assert {i.sku.product.brand.category for i in video.items} == {"video"}

    issued = db.session.scalars(sa.select(ProcurementRequest).where(
        ProcurementRequest.organization_id == org, ProcurementRequest.justification == demo.ISSUED)).one()
    assert issued.status == "issued" and issued.quantity == 4 and issued.pack_id == video.id
    assert [(s.approver_id, s.status) for s in requests.steps_of(issued)] == [(approver.id, "approved")]
    assert [e.action for e in requests.history(issued)] == ["created", "submitted", "approved", "paid", "issued"]
    assert budgets.covering(depts["研发部"].id, today).spent_fen == issued.amount_fen
    assert enterprises.balance_of(org) == parse_yuan(demo.OPENING_BALANCE) - issued.amount_fen

    pending = db.session.scalars(sa.select(ProcurementRequest).where(
        ProcurementRequest.organization_id == org, ProcurementRequest.justification == demo.PENDING)).one()
    assert pending.status == "pending" and pending.amount_fen >= parse_yuan("5000.00")
    assert [(s.approver_id, s.status) for s in requests.steps_of(pending)] == [
        (approver.id, "waiting"), (people["finance-approver@example.com"].id, "queued")]
    assert [s.request_id for s in approvers.waiting_for(approver)] == [pending.id]

    # the demo employee has one benefit to claim in the benefit center: they pick a brand and get it
    employee = people["employee@example.com"]
    [grant] = claims.for_user(employee)
    assert grant.status == "issued" and grant.request_id == issued.id and claims.claimable(grant)
    assert db.session.scalar(sa.select(Notification.id).where(Notification.user_id == employee.id,
                                                              Notification.kind == "benefit_granted"))
    youku = next(i.sku for i in video.items if i.sku.sku == "YOUKU-VIP-1M")
    claims.claim(employee, grant.id, youku.id)
    owned = db.session.scalars(sa.select(Entitlement).where(Entitlement.owner_id == employee.id)).all()
    assert {e.sku.sku for e in owned} == {seed.EMPLOYEE_PURCHASE, "YOUKU-VIP-1M"}
    assert sum(r["balance"] for r in ledger.trial_balance()) == 0


def test_seed_splits_the_joint_membership_with_its_brands(ctx):
    seed.seed()
    seed.seed()
    rows = db.session.execute(sa.select(Sku.sku, Partner.name, BundleComponent.share_bp)
                              .join(BundleComponent, BundleComponent.component_id == Sku.id)
                              .join(Partner, Partner.id == BundleComponent.partner_id)).all()
    assert sorted(rows) == [("QQMUSIC-TOPUP-1M", "QQ音乐", 5500), ("TXSP-VIP-1M", "腾讯视频", 6000)]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Partner)) == 2


def test_seed_sets_up_membership_and_loyalty_through_the_services(ctx):
    """Levels, points settings and mall, stored-value cards, a monthly plan, referral rates and the consumer's
    opening points; a second run changes none of it (not even what ops edited since)."""
    from app.core.models import AuditLog
    from app.demo import loyalty as demo
    from app.loyalty import levels, points, points_mall, subscriptions, wallet_cards
    from app.loyalty.referral import commissions

    seed.seed()
    assert [(lv.name, lv.threshold, lv.discount_bp) for lv in levels.all_levels()] == [
        ("普通会员", 0, 10000), ("白银会员", 500, 9800), ("黄金会员", 2000, 9500)]
    settings = db.session.get(PointsSettings, 1)
    assert settings is not None and settings.earn_per_yuan == 1 and settings.expiry_mode == "year_end"
    assert settings.checkin_points == [5, 5, 10, 10, 15, 15, 30]
    mall = {db.session.get(Sku, i.sku_id).sku: (i.points, i.cash_fen) for i in points_mall.items()}
    assert mall == {"GENSHIN-60": (600, 0), "LUCKIN-CUP-1": (1000, 990), "QQMUSIC-GREEN-1M": (800, 600)}
    assert all(i.cash_fen < db.session.get(Sku, i.sku_id).price_fen for i in points_mall.items())

    fixed, chosen = wallet_cards.products()
    assert (fixed.amount_fen, fixed.bonus_step_fen, fixed.bonus_fen) == (10000, 10000, 1000)
    assert (chosen.amount_fen, chosen.min_fen, chosen.max_fen, chosen.bonus_fen) == (None, 5000, 200000, 0)
    [plan] = subscriptions.all_plans()
    assert plan.sku_id == _sku("TXSP-VIP-1M").id and plan.period_months == 1 and plan.active
    assert 0 < plan.price_fen < _sku("TXSP-VIP-1M").price_fen
    assert {_sku(c).sku: commissions.rate_of(_sku(c).id) for c, _p in demo.REFERRAL_RATES} == {
        "TXSP-VIP-1M": 500, "IQIYI-GOLD-12M": 800, "LUCKIN-CUP-5": 300, "SBUX-GIFT-100": 200}

    consumer = accounts.find_by_email("consumer@example.com")
    [grant] = db.session.scalars(sa.select(PointsEntry).where(PointsEntry.user_id == consumer.id,
                                                              PointsEntry.kind == "grant")).all()
    assert grant.amount == 2000 and grant.memo == demo.CONSUMER_POINTS[1]
    assert points.available(consumer.id) >= 2000  # enough for the points-only item
    assert db.session.scalar(sa.select(AuditLog.id).where(AuditLog.action == "points.grant"))

    # ops change a level; the next run leaves it as ops left it and adds nothing
    gold = next(lv for lv in levels.all_levels() if lv.name == "黄金会员")
    levels.save_level(accounts.find_by_email("ops@example.com").id, name="黄金会员", badge="V3", threshold=3000, discount_pct=90, level_id=gold.id)
    counts, balance = _counts(), points.balance(consumer.id)
    seed.seed()
    db.session.expire_all()
    assert _counts() == counts and points.balance(consumer.id) == balance
    assert db.session.get(type(gold), gold.id).threshold == 3000
    assert sum(r["balance"] for r in ledger.trial_balance()) == 0


def test_the_sandbox_supplier_charges_what_the_demo_mappings_book(ctx):
    """`quanyi up` starts the sandbox supplier with these prices, so reconciling its bill finds no difference."""
    from app.demo.catalog import supplier_prices
    from app.suppliers.models import SupplierProduct
    from sandboxes.supplier.__main__ import _prices

    seed.seed()
    booked = dict(db.session.execute(sa.select(SupplierProduct.product_id, SupplierProduct.cost_fen)).all())
    assert booked and _prices(supplier_prices()) == booked


def test_seed_refuses_a_shared_database_without_force_demo(app, ctx, runner, monkeypatch):
    """Its logins all have the published password: a shared database is seeded only on purpose."""
    monkeypatch.setitem(app.config, "SQLALCHEMY_DATABASE_URI", "postgresql+psycopg://quanyi@db.internal/quanyi")
    out = runner.invoke(args=["demo", "seed"])
    assert out.exit_code == 1 and "--force-demo" in out.output and "nothing was written" in out.output
    assert accounts.find_by_email("ops@example.com") is None
