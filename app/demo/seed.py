"""`demo seed`: the demo catalog, its stock, one login per role, the demo enterprise and the loyalty setup
(app/demo/loyalty.py). Running it again adds nothing."""

import random
import time
from dataclasses import dataclass
from datetime import timedelta

import nh3
import sqlalchemy as sa
from flask import current_app

from app.accounts import services as accounts
from app.accounts.models import OrgKind, Role, User
from app.catalog.models import Brand, BundleComponent, Partner, Product, Sku
from app.core import vault
from app.core.ids import utcnow
from app.core.money import parse_yuan
from app.demo import enterprise as demo_enterprise
from app.demo import loyalty as demo_loyalty
from app.demo.catalog import PRODUCTS, CodeFormat, DemoProduct, DemoSku
from app.extensions import db
from app.inventory import sealing
from app.inventory.models import Code, ImportBatch
from app.orders.models import Order
from app.suppliers import services as suppliers
from app.suppliers.models import SupplierProduct

PASSWORD = "demo1234"
ENTERPRISE = demo_enterprise.ENTERPRISE
RESELLER = "示例渠道商"
#: The filename of the import batch that holds a SKU's demo stock; its presence marks the SKU as stocked.
BATCH_NAME = "demo-seed"
#: What the demo consumer already owns, bought through the real order and payment services.
CONSUMER_PURCHASES = ("TXSP-VIP-1M", "LUCKIN-CUP-1")
#: A direct top-up the demo employee owns unredeemed, to try redeeming in the benefit center.
EMPLOYEE_PURCHASE = "QQMUSIC-TOPUP-1M"
#: The sandbox supplier `quanyi up` starts: its code here, and the partner id it knows us by.
SANDBOX_SUPPLIER = "sandbox"
SANDBOX_PARTNER = "quanyi"
#: The demo reseller's tier, its API key and secret (published here on purpose: it is a demo), its opening
#: balance, and what ops ring-fenced for it.
DEMO_TIERS = (("金牌", 800, 3000), ("银牌", 500, 2000))
DEMO_API_KEY = "qk_demo_reseller_0000000000000001"
DEMO_API_SECRET = "demo-secret-change-me-0123456789abcdef"
DEMO_BALANCE = "20000.00"
DEMO_POOL = ("TXSP-VIP-1M", 40)
#: Wholesale orders the demo reseller already placed, through the real order service.
DEMO_WHOLESALE = (("TXSP-VIP-1M", 5), ("LUCKIN-CUP-1", 10))


@dataclass(frozen=True)
class Login:
    email: str
    role: str
    name: str
    org: str | None = None
    org_kind: str | None = None


LOGINS = [
    Login("consumer@example.com", Role.consumer, "张小明"),
    Login("employee@example.com", Role.employee, "李华", ENTERPRISE, OrgKind.enterprise),
    Login("reseller@example.com", Role.reseller, "王芳", RESELLER, OrgKind.reseller),
    Login("hr@example.com", Role.hr_admin, "赵敏", ENTERPRISE, OrgKind.enterprise),
    Login("approver@example.com", Role.approver, "陈刚", ENTERPRISE, OrgKind.enterprise),
    # The demo enterprise's approvers of its larger requests (from ¥5,000 and from ¥50,000).
    Login("finance-approver@example.com", Role.approver, "孙丽", ENTERPRISE, OrgKind.enterprise),
    Login("director@example.com", Role.approver, "吴建国", ENTERPRISE, OrgKind.enterprise),
    Login("finance@example.com", Role.finance, "刘洋", None),
    # A second member of finance: statements are approved by someone other than who generated them.
    Login("finance2@example.com", Role.finance, "黄蕾", None),
    Login("ops@example.com", Role.ops, "周杰", None),
    # Customer service (客服): finds customers and orders, works after-sales cases, voids banned batches.
    Login("service@example.com", Role.service, "林娜", None),
    # Manages staff accounts (invite, roles, deactivation) and nothing else: no role is both ops and finance.
    Login("admin@example.com", Role.admin, "郑伟", None),
]

#: The seeded catalog by SKU code: the row, and the demo product and SKU it was made from.
Seeded = dict[str, tuple[Sku, DemoProduct, DemoSku]]

#: No 0/O or 1/I/L: codes people type from a screen.
_LETTERS = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_DIGITS = "0123456789"


@dataclass
class SeedResult:
    brands: int = 0
    skus: int = 0
    skus_created: int = 0
    codes_created: int = 0
    codes_total: int = 0
    users_created: int = 0
    orders_created: int = 0
    suppliers_created: int = 0
    mappings_created: int = 0


def seed() -> SeedResult:
    """Create whatever of the demo data is missing; everything present is left as it is (except the sandbox
    supplier's address and key, which follow SUPPLIER_SANDBOX_URL and SUPPLIER_SANDBOX_KEY)."""
    result = SeedResult()
    demo_enterprise.ensure_enterprise()  # before its people join its organization
    users = _seed_users(result)
    ops = users["ops@example.com"]
    skus = _seed_catalog(result)
    _seed_partners(skus)
    _seed_stock(skus, actor=ops, result=result)
    _seed_supplier(skus, actor=ops, result=result)
    _seed_purchases(users["consumer@example.com"], skus, result)
    _seed_employee_benefit(users["employee@example.com"], skus, result)
    _seed_channel(users["reseller@example.com"], ops, skus, result)
    by_code = {code: sku for code, (sku, _demo, _item) in skus.items()}
    demo_enterprise.seed(users, by_code)
    demo_loyalty.seed(ops, users["consumer@example.com"], by_code)
    result.brands = db.session.scalar(sa.select(sa.func.count()).select_from(Brand))
    result.skus = db.session.scalar(sa.select(sa.func.count()).select_from(Sku))
    result.codes_total = db.session.scalar(sa.select(sa.func.count()).select_from(Code))
    return result


def _seed_users(result: SeedResult) -> dict[str, User]:
    users = {}
    for login in LOGINS:
        user = accounts.find_by_email(login.email)
        if user is None:
            org = accounts.get_or_create_org(login.org, login.org_kind) if login.org else None
            user = accounts.create_user(login.email, PASSWORD, name=login.name, role=login.role, organization=org)
            result.users_created += 1
        users[login.email] = user
    return users


def _seed_catalog(result: SeedResult) -> Seeded:
    skus = {}
    for demo in PRODUCTS:
        brand = db.session.scalars(sa.select(Brand).where(Brand.name == demo.brand)).first()
        if brand is None:
            brand = Brand(name=demo.brand, category=demo.category)
            db.session.add(brand)
        product = db.session.scalars(sa.select(Product).where(Product.brand == brand,
                                                              Product.name == demo.name)).first()
        if product is None:
            product = Product(brand=brand, name=demo.name, category=demo.category,
                              instructions_html=nh3.clean(demo.instructions))
            db.session.add(product)
        for item in demo.skus:
            sku = db.session.scalars(sa.select(Sku).where(Sku.sku == item.sku)).first()
            if sku is None:
                below, quantity = item.replenish or (None, None)
                sku = Sku(product=product, sku=item.sku, name=item.name, type=item.type, source=item.source,
                          account_format=item.account_format, face_value_fen=parse_yuan(item.face),
                          price_fen=parse_yuan(item.price), validity_days=item.validity_days,
                          replenish_below=below, replenish_quantity=quantity)
                sku.components = [BundleComponent(component=skus[code][0], quantity=n, position=i)
                                  for i, (code, n) in enumerate(item.components)]
                db.session.add(sku)
                result.skus_created += 1
            skus[item.sku] = (sku, demo, item)
    db.session.commit()
    return skus


#: The joint membership's revenue split: (bundle, component) → (partner, share in basis points).
SPLITS = {("TXSP-QQMUSIC-1M", "TXSP-VIP-1M"): ("腾讯视频", 6000), ("TXSP-QQMUSIC-1M", "QQMUSIC-TOPUP-1M"): ("QQ音乐", 5500)}


def _seed_partners(skus: Seeded) -> None:
    """The brands of the demo joint membership share its revenue (set once; what ops changed later stays)."""
    for (bundle, part), (name, share_bp) in SPLITS.items():
        partner = db.session.scalars(sa.select(Partner).where(Partner.name == name)).first()
        if partner is None:
            partner = Partner(name=name, contact=f"{name} 结算对接人")
            db.session.add(partner)
            db.session.flush()
        row = next(c for c in skus[bundle][0].components if c.component.sku == part)
        if row.partner_id is None:
            row.partner_id, row.share_bp = partner.id, share_bp
    db.session.commit()


def _seed_stock(skus: Seeded, actor: User, result: SeedResult) -> None:
    stocked = set(db.session.scalars(sa.select(ImportBatch.sku_id).where(ImportBatch.filename == BATCH_NAME)))
    sealer = vault.Sealer()
    rng = random.SystemRandom()
    now = utcnow()
    for sku, demo, item in skus.values():
        if sku.id in stocked or not item.units:
            continue
        units = item.units
        batch = ImportBatch(sku_id=sku.id, actor_id=actor.id, source="cli", filename=BATCH_NAME, status="done",
                            total_lines=units, imported=units, duplicates=0, rejected=[], finished_at=now)
        db.session.add(batch)
        db.session.flush()
        db.session.execute(sa.insert(Code), [
            _code_row(sealer, rng, demo.codes, code_id, sku.id, batch.id, now, item.max_uses)
            for code_id in sealing.next_ids(units)
        ])
        result.codes_created += units
    db.session.commit()


def _code_row(sealer: vault.Sealer, rng: random.Random, fmt: CodeFormat, code_id: int, sku_id: int,
              batch_id: int, now, max_uses: int = 1) -> dict:
    code = _fill(fmt.pattern, rng)
    expires_at = None
    if fmt.expires_in_days is not None:
        expires_at = (now + timedelta(days=fmt.expires_in_days + rng.randint(0, 60))).replace(microsecond=0)
    return {
        **sealing.sealed(sealer, code_id, sku_id, code, _fill(fmt.secret, rng) if fmt.secret else None),
        "batch_id": batch_id, "expires_at": expires_at, "max_uses": max_uses, "created_at": now,
    }


def _fill(pattern: str, rng: random.Random) -> str:
    return "".join(rng.choice(_DIGITS) if ch == "#" else rng.choice(_LETTERS) if ch == "X" else ch
                   for ch in pattern)


def _seed_supplier(skus: Seeded, actor: User, result: SeedResult) -> None:
    """The sandbox supplier and the SKUs mapped to it. Mappings are not checked with the supplier: the sandbox
    need not be running while seeding."""
    cfg = current_app.config
    url, key = cfg["SUPPLIER_SANDBOX_URL"].rstrip("/"), cfg["SUPPLIER_SANDBOX_KEY"]
    supplier = suppliers.by_code(SANDBOX_SUPPLIER)
    if supplier is None:
        supplier = suppliers.save_supplier(actor.id, code=SANDBOX_SUPPLIER, name="沙箱供应商",
                                           adapter="signed_json", base_url=url, partner_id=SANDBOX_PARTNER,
                                           key=key)
        result.suppliers_created += 1
    else:
        point_sandbox_supplier(url, key, actor_id=actor.id)
    mapped = set(db.session.scalars(sa.select(SupplierProduct.sku_id)
                                    .where(SupplierProduct.supplier_id == supplier.id)))
    for sku, _demo, item in skus.values():
        if item.supplier_product and sku.id not in mapped:
            suppliers.save_mapping(actor.id, supplier_id=supplier.id, sku_id=sku.id, verify=False,
                                   product_id=item.supplier_product, cost_fen=parse_yuan(item.cost))
            result.mappings_created += 1


def point_sandbox_supplier(url: str, key: str, actor_id: int | None = None) -> bool:
    """Make the demo's sandbox supplier (if seeded) use this address and signing key, as the sandbox that
    `quanyi up` starts does (another port, another key). True if it changed."""
    supplier = suppliers.by_code(SANDBOX_SUPPLIER)
    if supplier is None:
        return False
    url = url.rstrip("/")
    key_changed = vault.open_sealed(supplier.data_key_id, supplier.key_ct) != key
    if supplier.base_url == url and not key_changed:
        return False
    suppliers.save_supplier(actor_id, code=supplier.code, name=supplier.name, adapter=supplier.adapter,
                            base_url=url, partner_id=supplier.partner_id, key=key if key_changed else None,
                            active=supplier.active, supplier_id=supplier.id)
    return True


def _seed_purchases(consumer: User, skus: Seeded, result: SeedResult) -> None:
    """Give the demo consumer a couple of delivered benefits, through the real order and payment services."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(Order).where(Order.buyer_id == consumer.id)):
        return
    for sku_code in CONSUMER_PURCHASES:
        _buy(consumer, skus[sku_code][0], result)


def _seed_employee_benefit(employee: User, skus: Seeded, result: SeedResult) -> None:
    """An unredeemed direct top-up for the demo employee: bought without an account, it waits in the benefit
    center for one."""
    sku = skus[EMPLOYEE_PURCHASE][0]
    if db.session.scalar(sa.select(sa.func.count()).select_from(Order)
                         .where(Order.buyer_id == employee.id, Order.sku_id == sku.id)):
        return
    _buy(employee, sku, result)


def _buy(buyer: User, sku: Sku, result: SeedResult) -> None:
    """One unit bought and paid through the real order and payment services."""
    from app.orders import services as orders
    from app.payments import services as payments
    from app.payments.gateway import Notice

    order = orders.create_retail_order(buyer, sku.id, 1)
    # A payment notice as the sandbox gateway would send it; the seed has no gateway to pay on.
    notice = Notice(notify_id=f"demo-seed-{order.order_no}", out_trade_no=order.order_no,
                    trade_no=f"DEMO{order.order_no}", amount_fen=order.amount_fen, currency="CNY",
                    trade_status="SUCCESS", timestamp=int(time.time()))
    outcome = payments.apply_success(notice)
    if outcome != "applied":
        raise RuntimeError(f"demo purchase {order.order_no}: payment outcome {outcome}")
    db.session.commit()
    result.orders_created += 1


def _seed_channel(user: User, ops: User, skus: Seeded, result: SeedResult) -> None:
    """Tiers, the demo reseller's channel account (tier, balance, API key, a pool) and a few orders."""
    from app.channels import balance, credentials, pools, resellers, wholesale
    from app.channels.models import Reseller

    for name, discount_bp, markup_bp in DEMO_TIERS:
        if resellers.tier_by_name(name) is None:
            resellers.save_tier(name, discount_bp, ops.id, max_agent_markup_bp=markup_bp)
    reseller = resellers.for_user(user)
    if reseller is not None:
        return
    reseller = Reseller(organization_id=user.organization_id, tier_id=resellers.tier_by_name(DEMO_TIERS[0][0]).id,
                        low_balance_fen=parse_yuan("1000.00"))
    db.session.add(reseller)
    db.session.flush()
    credentials.create(reseller, ops.id, label="demo", commit=False, api_key=DEMO_API_KEY, secret=DEMO_API_SECRET)
    balance.credit(reseller, parse_yuan(DEMO_BALANCE), from_account="1002", kind="reseller_opening",
                   key=f"reseller:{reseller.id}:opening", memo=RESELLER, ref=("reseller", reseller.id),
                   actor_id=ops.id)
    db.session.commit()
    sku_code, quantity = DEMO_POOL
    pools.allocate(skus[sku_code][0], reseller, quantity, ops.id, allow_shared=True)
    for n, (sku_code, quantity) in enumerate(DEMO_WHOLESALE, 1):
        wholesale.place(reseller, user, sku=sku_code, quantity=quantity, client_order_no=f"DEMO-{n:04d}")
        result.orders_created += 1
