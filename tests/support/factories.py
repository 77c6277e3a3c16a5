"""Factory fixtures, registered by tests/conftest.py: users, SKUs and their stock, suppliers, resellers,
companies. Each commits what it makes and returns ids (or a small record of ids)."""

import contextlib
from dataclasses import dataclass, field
from datetime import date

import pytest
import sqlalchemy as sa

from tests.support.processes import SUPPLIER_KEY

#: The TOTP secret `make_user` enrols for every role that requires a second factor (tests compute codes
#: from it with pyotp; tests/support/browser.py types them).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def enrol_totp(user_id: int, secret: str = TOTP_SECRET) -> None:
    """Give the user a confirmed TOTP credential with `secret` (call inside an app context)."""
    from app.accounts.models import TotpCredential
    from app.core import vault
    from app.core.ids import utcnow
    from app.extensions import db

    key_id, blob = vault.seal_bound(f"totp:{user_id}", secret.encode())
    db.session.add(TotpCredential(user_id=user_id, key_id=key_id, secret=blob, confirmed_at=utcnow()))
    db.session.commit()


# They reuse the test's app context when there is one, so they share its session (and its savepoints).

def _context(app):
    from flask import has_app_context

    return contextlib.nullcontext() if has_app_context() else app.app_context()


@pytest.fixture
def make_user(app):
    from app.accounts import services as accounts
    from app.accounts.models import OrgKind, Role

    counter = iter(range(1, 10**6))

    def make(role: str = Role.consumer, email: str | None = None, org: str | None = None, password="secret-pass-1",
             totp: bool | None = None):
        """`totp`: enrol TOTP_SECRET (default: for the roles that require a second factor)."""
        from app.accounts.mfa import MFA_ROLES

        with _context(app):
            organization = None
            if org or role in (Role.reseller, Role.hr_admin, Role.approver, Role.employee):
                kind = OrgKind.reseller if role == Role.reseller else OrgKind.enterprise
                organization = accounts.get_or_create_org(org or f"{kind} org", kind)
            user = accounts.create_user(email or f"{role}{next(counter)}@t.example", password, role=role,
                                        organization=organization)
            if totp if totp is not None else role in MFA_ROLES:
                enrol_totp(user.id)
            if role == Role.reseller:  # a reseller's organization has a channel account (untiered: retail)
                from app.channels import resellers
                from app.channels.models import Reseller
                from app.extensions import db

                if resellers.for_user(user) is None:
                    db.session.add(Reseller(organization_id=organization.id))
                    db.session.commit()
            elif organization is not None and organization.kind == OrgKind.enterprise:
                # an enterprise organization has its account and the default approval rule
                from app.extensions import db
                from app.procurement.models import ApprovalRule, Enterprise, StepKind

                if not db.session.query(Enterprise).filter_by(organization_id=organization.id).first():
                    db.session.add(Enterprise(organization_id=organization.id))
                    db.session.add(ApprovalRule(organization_id=organization.id, min_amount_fen=0, position=1,
                                                label="部门审批人", kind=StepKind.department_approver))
                    db.session.commit()
            return user.id

    return make


def log_in(app, client, uid: int) -> None:
    """Give `client` a session as valid as a real sign-in makes it: the user's session version, fresh
    timestamps, the second factor passed when the user has one."""
    import time

    from app.accounts import mfa
    from app.accounts.models import User
    from app.extensions import db

    with _context(app):
        user = db.session.get(User, uid)
        version, has_totp = user.session_version, mfa.has_totp(user)
    now = time.time()
    with client.session_transaction() as s:
        s.update({"_user_id": str(uid), "_fresh": True, "auth_v": version, "auth_at": now, "seen_at": now,
                  "auth_uid": uid})
        if has_totp:
            s["mfa_at"] = now


@pytest.fixture
def login_as(app, client, make_user):
    """Log the test client in as a new user with `role` (log_in); returns the user id."""

    def login(role: str = "consumer", user_id: int | None = None) -> int:
        uid = user_id or make_user(role)
        log_in(app, client, uid)
        return uid

    return login


@pytest.fixture
def client_as(app, make_user):
    """Another browser: a new test client signed in as a new user with `role` (or `user_id`), in English.
    Returns (client, user id)."""

    def make(role: str = "consumer", user_id: int | None = None):
        uid = user_id or make_user(role)
        c = app.test_client()
        log_in(app, c, uid)
        c.post("/lang/en")
        return c, uid

    return make


@pytest.fixture
def make_sku(app):
    from app.catalog.models import Brand, BundleComponent, Product, Sku
    from app.extensions import db

    counter = iter(range(1, 10**6))

    def make(price: str = "28.00", face: str = "30.00", type_: str = "card_code", validity_days: int = 365,
             brand: str = "腾讯视频", name: str | None = None, source: str = "stock",
             account_format: str | None = None, components: list[tuple[int, int]] = ()) -> int:
        from app.core.money import parse_yuan

        with _context(app):
            b = db.session.scalars(sa.select(Brand).where(Brand.name == brand)).first() or Brand(name=brand,
                                                                                                   category="video")
            n = next(counter)
            p = Product(brand=b, name=name or f"{brand} VIP", category=b.category,
                        instructions_html="<p>打开App，在“我的”里输入兑换码。</p>")
            sku = Sku(product=p, sku=f"T-SKU-{n}", name=name or f"{brand} 月卡 {n}", type=type_,
                      face_value_fen=parse_yuan(face), price_fen=parse_yuan(price), validity_days=validity_days,
                      source=source, account_format=account_format or ("mobile" if type_ == "direct_topup" else None))
            sku.components = [BundleComponent(component_id=cid, quantity=q, position=i)
                              for i, (cid, q) in enumerate(components)]
            db.session.add(sku)
            db.session.commit()
            return sku.id

    return make


@pytest.fixture
def make_supplier(app, supplier_sandbox):
    """A supplier row speaking to the sandbox; `map_sku(sku_id, product_id)` maps a SKU to it."""
    from app.suppliers import services as suppliers

    counter = iter(range(1, 10**6))

    def make(code: str | None = None, url: str | None = None, key: str = SUPPLIER_KEY) -> int:
        with _context(app):
            return suppliers.save_supplier(None, code=code or f"sb{next(counter)}", name="沙箱供应商",
                                           adapter="signed_json", base_url=url or supplier_sandbox.url,
                                           partner_id="quanyi", key=key).id

    return make


@pytest.fixture
def map_sku(app):
    from app.suppliers import services as suppliers

    def mapping(sku_id: int, supplier_id: int, product_id: str, cost: int = 2000, priority: int = 10) -> int:
        with _context(app):
            return suppliers.save_mapping(None, supplier_id=supplier_id, sku_id=sku_id, product_id=product_id,
                                          cost_fen=cost, priority=priority).id

    return mapping


@pytest.fixture
def stock(app):
    """Put `n` fresh codes (or the given ones) into a SKU's stock; returns the plaintext codes."""
    from app.core import vault
    from app.extensions import db
    from app.inventory import sealing
    from app.inventory.models import Code

    def add(sku_id: int, n: int = 5, codes: list[str] | None = None, expires_at=None, max_uses: int = 1) -> list[str]:
        import secrets

        codes = codes or [f"CODE-{secrets.token_hex(6).upper()}" for _ in range(n)]
        with _context(app):
            sealer = vault.Sealer()
            db.session.add_all(Code(**sealing.sealed(sealer, code_id, sku_id, c, None), expires_at=expires_at,
                                    max_uses=max_uses)
                               for code_id, c in zip(sealing.next_ids(len(codes)), codes, strict=True))
            db.session.commit()
        return codes

    return add


@pytest.fixture
def make_reseller(app):
    """A reseller (organization, channel account, one user, first API key) with a balance.

    Returns a dict: id, user_id, org_id, api_key, api_secret, tier_id.
    """
    from app.accounts import services as accounts
    from app.accounts.models import Role
    from app.channels import resellers
    from app.channels.models import Reseller
    from app.core.money import parse_yuan
    from app.extensions import db

    counter = iter(range(1, 10**6))

    def make(balance: str = "1000.00", discount: str = "10", tier: str | None = None, parent_id: int | None = None,
             name: str | None = None, markup_bp: int = 0) -> dict:
        with _context(app):
            n = next(counter)
            tier_obj = None
            if parent_id is None:
                tier_name = tier or f"tier-{discount}"
                tier_obj = resellers.tier_by_name(tier_name) or resellers.save_tier(
                    tier_name, resellers.parse_percent(discount), None)
            parent = db.session.get(Reseller, parent_id) if parent_id else None
            reseller, cred, secret = resellers.create(name or f"代理商 {n}", tier_obj, None,
                                                      opening_balance_fen=parse_yuan(balance), parent=parent,
                                                      agent_markup_bp=markup_bp)
            user = accounts.create_user(f"reseller{n}-{reseller.id}@t.example", "secret-pass-1", role=Role.reseller,
                                        organization=reseller.organization)
            return {"id": reseller.id, "user_id": user.id, "org_id": reseller.organization_id,
                    "api_key": cred.api_key, "api_secret": secret, "tier_id": reseller.tier_id}

    return make


@dataclass
class Company:
    organization_id: int
    enterprise_id: int
    hr_id: int
    approver_id: int
    department_id: int
    budget_id: int | None
    employee_ids: list[int] = field(default_factory=list)
    #: users.id of each employee, in the same order as employee_ids.
    employee_user_ids: list[int] = field(default_factory=list)


@pytest.fixture
def make_company(app):
    """A company: `employees` employees in one department "市场部" (approver + HR admin), a budget for the
    current month of `budget` yuan, `balance` yuan in its prepaid balance and `discount_bp` off retail."""
    from app.accounts import services as accounts
    from app.accounts.models import Role
    from app.core.ids import utcnow
    from app.core.money import parse_yuan
    from app.extensions import db
    from app.procurement import budgets, enterprises
    from app.procurement.models import Department, Employee

    counter = iter(range(1, 10**6))

    def make(name: str | None = None, employees: int = 3, budget: str | None = "100000.00",
             balance: str | None = "100000.00", discount_bp: int = 1000) -> Company:
        n = next(counter)
        with _context(app):
            ent = enterprises.create(name or f"测试企业{n}-{id(counter)}", discount_bp=discount_bp)
            org = ent.organization
            hr = accounts.create_user(f"hr{n}-{ent.id}@corp.example", "secret-pass-1", name=f"HR {n}",
                                      role=Role.hr_admin, organization=org, commit=False)
            approver = accounts.create_user(f"boss{n}-{ent.id}@corp.example", "secret-pass-1", name=f"主管 {n}",
                                            role=Role.approver, organization=org, commit=False)
            db.session.flush()
            dept = Department(organization_id=org.id, name="市场部", approver_id=approver.id)
            db.session.add(dept)
            db.session.flush()
            emp_ids, user_ids = [], []
            for i in range(employees):
                u = accounts.create_user(f"e{i}-{n}-{ent.id}@corp.example", "secret-pass-1", name=f"员工{i}",
                                         role=Role.employee, organization=org, commit=False)
                db.session.flush()
                e = Employee(organization_id=org.id, department_id=dept.id, user_id=u.id, name=u.name,
                             employee_no=f"E{i:04d}")
                db.session.add(e)
                db.session.flush()
                emp_ids.append(e.id)
                user_ids.append(u.id)
            budget_id = None
            if budget is not None:
                budget_id = budgets.save(org.id, dept.id, f"{utcnow():%Y-%m}", budget).id
            if balance is not None:
                enterprises.deposit(org.id, parse_yuan(balance), key=f"test-opening:{org.id}", memo="opening",
                                    ref=None, actor_id=None)
            db.session.commit()
            return Company(org.id, ent.id, hr.id, approver.id, dept.id, budget_id, emp_ids, user_ids)

    make.today = date.today
    return make
