"""Pages at scale, on PostgreSQL: every hot page reads a bounded number of rows through an index.

Thousands of orders, codes, benefits and journal entries are bulk-inserted (INSERT … SELECT generate_series, then
ANALYZE), the pages are requested through the test client, and each SELECT they sent is EXPLAINed as sent (captured
with a before_cursor_execute listener, not retyped): no sequential scan of orders, codes, postings, journal
entries, entitlements or users. Each page also keeps to a budget of SQL statements, and no page returns more rows
than its page size, whatever the data."""

import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.ids import utcnow
from app.core.pages import MAX_PER_PAGE
from app.extensions import db
from tests.support.api import signed

pytestmark = pytest.mark.pg

BIG = {"orders", "codes", "postings", "journal_entries", "entitlements", "users"}
#: Rows of each seeded table (the planner prefers a sequential scan only on tables a few pages long).
N_ORDERS, N_CODES, N_BENEFITS, N_ENTRIES, N_USERS = 30_000, 40_000, 20_000, 20_000, 3_000


@pytest.fixture
def pg(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("EXPLAIN plans are PostgreSQL's (set DATABASE_URL)")


@pytest.fixture
def conn(pg, app):
    """The test's own connection (conftest): the seed, never committed, is visible on it."""
    return db._app_engines[app][None]


def _clone(conn, table: str, template_id: int, n: int, **overrides: str) -> None:
    """n copies of one row, each column as the template's unless `overrides` gives an SQL expression of g
    (1..n)."""
    cols = [c["name"] for c in sa.inspect(conn).get_columns(table) if c["name"] != "id"]
    exprs = [overrides.get(c, f"t.{c}") for c in cols]
    conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(exprs)} "
                         f"FROM {table} t, generate_series(1, {n}) g WHERE t.id = {template_id}"))


@pytest.fixture
def seeded(conn, app, make_user, make_sku, stock, make_reseller):
    """A shop with many rows; returns the ids the pages are read as."""
    from app.ledger import services as ledger

    me, finance, ops = make_user("consumer"), make_user("finance"), make_user("ops")
    sku = make_sku()
    stock(sku, 1)
    r = make_reseller(balance="100000.00")
    now = utcnow()
    with app.app_context():
        # the ledger's accounts, and an entry to copy: 13 months of books, only this month still open
        for i, days in enumerate((400, 300, 200)):
            ledger.post("revenue", [("1002", 100), ("6001", -100)], key=f"seed-{i}", booked_at=now - timedelta(days))
        db.session.commit()
    def q(sql: str):
        return conn.execute(sa.text(sql))
    code_id = q("SELECT min(id) FROM codes").scalar()
    entry_id = q("SELECT id FROM journal_entries WHERE idempotency_key = 'seed-0'").scalar()
    _clone(conn, "users", me, N_USERS, email="'seed' || g || '@seed.example'", phone="NULL")
    first_user = q("SELECT min(id) FROM users WHERE email LIKE 'seed%'").scalar()
    q(f"""INSERT INTO orders (order_no, channel, buyer_id, reseller_id, client_order_no, sku_id, quantity,
          unit_price_fen, amount_fen, status, created_at, commission_unit_fen, refunded_fen)
          SELECT 'S' || g, CASE WHEN g % 3 = 1 THEN 'reseller' ELSE 'retail' END,
                 CASE WHEN g % 3 = 1 THEN NULL WHEN g % 500 = 0 THEN {me} ELSE {first_user} + g % {N_USERS} END,
                 CASE WHEN g % 3 = 1 THEN {r['id']} END, CASE WHEN g % 3 = 1 THEN 'C' || g END,
                 {sku}, 1, 2800, 2800, 'delivered', now() - (g || ' minutes')::interval, 0, 0
          FROM generate_series(1, {N_ORDERS}) g""")
    first_order = q("SELECT min(id) FROM orders").scalar()
    q(f"""INSERT INTO entitlements (owner_id, order_id, sku_id, code_use, status, reveal_count, created_at,
          valid_until)
          SELECT CASE WHEN g % 100 = 0 THEN {me} ELSE {first_user} + g % {N_USERS} END, {first_order} + g % 1000,
                 {sku}, 1, 'unused', 0, now(), CASE WHEN g % 7 = 0 THEN NULL ELSE now() + (g || ' hours')::interval END
          FROM generate_series(1, {N_BENEFITS}) g""")
    _clone(conn, "codes", code_id, N_CODES, code_hash="md5(g::text) || md5('x' || g)",
           status="CASE WHEN g % 5 = 0 THEN 'available' ELSE 'delivered' END",
           expires_at="CASE WHEN g % 997 = 0 THEN now() - interval '1 day' END")
    _clone(conn, "journal_entries", entry_id, N_ENTRIES, idempotency_key="'seed-entry-' || g",
           kind="CASE WHEN g % 50 = 0 THEN 'adjustment' ELSE 'revenue' END",
           booked_at="t.booked_at + (g * 1725 || ' seconds')::interval",  # 400 days: up to today
           created_at="t.booked_at + (g * 1725 || ' seconds')::interval")
    q(f"""INSERT INTO postings (entry_id, account_id, amount_fen)
         SELECT e.id, p.account_id, p.amount_fen FROM journal_entries e
         JOIN postings p ON p.entry_id = {entry_id} WHERE e.idempotency_key LIKE 'seed-entry-%'""")
    for table in BIG:
        q(f"ANALYZE {table}")
    return {"me": me, "finance": finance, "ops": ops, "reseller": r, "sku": sku}


class Captured:
    def __init__(self):
        self.statements: list[tuple[str, object]] = []

    def __call__(self, _conn, _cursor, statement, parameters, *_args):
        self.statements.append((statement, parameters))


def _get(client, url: str, **kw):
    cap = Captured()
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", cap)
    try:
        resp = client.get(url, **kw)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", cap)
    assert resp.status_code == 200, (url, resp.status_code)
    return resp, cap.statements


def _scans(plan: dict):
    yield plan
    for sub in plan.get("Plans", []):
        yield from _scans(sub)


def _seq_scans(conn, statements) -> list[str]:
    """The big tables some captured SELECT reads by a sequential scan (EXPLAINed with its own parameters)."""
    found = []
    for statement, params in statements:
        if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
            continue
        if not set(re.findall(r"\b(\w+)\b", statement)) & BIG:
            continue
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, params).scalar()
        plan = plan if isinstance(plan, list) else json.loads(plan)
        for node in _scans(plan[0]["Plan"]):
            if node["Node Type"] == "Seq Scan" and node.get("Relation Name") in BIG:
                found.append(f"{node['Relation Name']}: {statement[:300]}")
    return found


def _rows(resp, marker: str) -> list[str]:
    return re.findall(marker, resp.get_data(as_text=True))


def _next(resp) -> str:
    m = re.search(r'class="pagination-next" href="([^"]+)"', resp.get_data(as_text=True)) or re.search(
        r'hx-get="([^"]*[?&;]after=[^"]*)"', resp.get_data(as_text=True))
    return m.group(1).replace("&amp;", "&")


#: page: (role, url, statement budget, what marks one listed row, page size). The budget counts every statement the
#: request sends, the test harness's SAVEPOINT and ROLLBACK TO SAVEPOINT included.
PAGES = {
    "benefit center": ("me", "/me/", 7, r'class="box benefit-card"', 50),
    "consumer orders": ("me", "/me/orders", 5, r'class="box order-row"', 20),
    "reseller orders": ("reseller", "/reseller/orders", 6, r'<tr data-order="', 20),
    "reseller search": ("reseller", "/reseller/orders?q=C4", 6, r'<tr data-order="', 20),
    "finance journal": ("finance", "/finance/journal", 10, r'data-entry="\d+"', 50),
    "journal of a kind": ("finance", "/finance/journal?kind=adjustment", 9, r'data-entry="\d+"', 50),
    "journal of an account": ("finance", "/finance/journal?account=6001", 10, r'data-entry="\d+"', 50),
    "trial balance": ("finance", "/finance/", 11, None, None),
    # 9 for the stock table, 17 for the sales figures (app/insight/sales.py: the rolled days, the roll-ups, today
    # read live, paying users, the top SKUs' and brands' names, the previous period, the brand filter), whatever
    # the number of days and SKUs (tests/insight/test_dashboard_page.py)
    "ops stock overview": ("ops", "/ops/", 26, None, None),
    "ops resellers": ("ops", "/ops/resellers", 11, r'<tr data-reseller="', None),
    "finance account": ("finance", "/finance/accounts/6001", 14, r'<tr data-entry="\d+"', 50),
}


def _client(client_as, seeded, role: str):
    uid = seeded["reseller"]["user_id"] if role == "reseller" else seeded[role]
    c, _uid = client_as(role if role != "me" else "consumer", uid)
    return c


@pytest.fixture
def closed_months(seeded, app):
    """Every month but this one closed, as finance would have them (the trial balance starts from them)."""
    from app.accounts.models import User
    from app.ledger import periods

    with app.app_context():
        finance = db.session.get(User, seeded["finance"])
        while (month := periods.next_to_close()) is not None:
            periods.close(finance, month)


@pytest.mark.parametrize("page", list(PAGES))
def test_page_reads_through_indexes_within_its_budget(page, conn, seeded, closed_months, client_as):
    role, url, budget, marker, size = PAGES[page]
    c = _client(client_as, seeded, role)
    first, statements = _get(c, url)
    assert len(statements) <= budget, f"{page}: {len(statements)} statements > {budget}"
    assert _seq_scans(conn, statements) == [], page
    if size and page not in ("reseller search", "journal of a kind"):
        assert len(_rows(first, marker)) == size  # a full page, of far more rows
        older, statements = _get(c, _next(first))  # the next page by keyset: same plan shape, same budget
        assert 0 < len(_rows(older, marker)) <= size
        assert len(statements) <= budget and _seq_scans(conn, statements) == []


def test_api_order_search_reads_one_order_by_index(conn, seeded, client):
    r = seeded["reseller"]
    cap = Captured()
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", cap)
    try:
        found = signed(client, "GET", "/api/v1/orders", r["api_key"], r["api_secret"],
                       query={"client_order_no": "C4"})
        one = signed(client, "GET", "/api/v1/orders/S4", r["api_key"], r["api_secret"])
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", cap)
    assert found.status_code == 200 and [o["order_no"] for o in found.get_json()["items"]] == ["S4"]
    assert one.status_code == 200 and one.get_json()["client_order_no"] == "C4"
    assert _seq_scans(conn, cap.statements) == []


def test_no_page_holds_more_rows_than_its_size(seeded, app, client_as, monkeypatch):
    """Asked for more than MAX_PER_PAGE, a keyset page still stops there, whatever the data."""
    from app.accounts.models import User
    from app.channels import wholesale
    from app.orders import services as orders

    monkeypatch.setattr("app.fulfilment.services.PER_PAGE", 10_000)
    resp, _statements = _get(_client(client_as, seeded, "me"), "/me/")
    assert len(_rows(resp, r'class="box benefit-card"')) == MAX_PER_PAGE
    with app.app_context():
        me = db.session.get(User, seeded["me"])
        assert 0 < len(orders.list_for_buyer(me, per_page=10_000).items) <= MAX_PER_PAGE
        assert len(wholesale.list_for(seeded["reseller"]["id"], per_page=10_000).items) == MAX_PER_PAGE


#: The only ways a stock figure may read codes: the expired range at the start of the partial index of the shared
#: stock, and the (few) shared loop codes. Everything else comes from code_counts.
STOCK_INDEXES = {"ix_codes_sellable", "ix_codes_shared_loop"}


def _code_reads(conn, statements) -> list[str]:
    """Each read of codes by a captured SELECT other than through STOCK_INDEXES (EXPLAINed as sent)."""
    found = []
    for statement, params in statements:
        if not statement.lstrip().upper().startswith(("SELECT", "WITH")) or not re.search(r"\bcodes\b", statement):
            continue
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, params).scalar()
        plan = plan if isinstance(plan, list) else json.loads(plan)
        for node in _scans(plan[0]["Plan"]):
            if node.get("Relation Name") == "codes" and node.get("Index Name") not in STOCK_INDEXES:
                found.append(f"{node['Node Type']} {node.get('Index Name')}: {statement[:300]}")
    return found


@pytest.mark.parametrize("page", ["shop", "product page", "ops dashboard"])
def test_stock_figures_come_from_code_counts(page, conn, seeded, client_as):
    """The shop, a product page and the ops dashboard count no code rows: code_counts' sums less the expired
    codes (an index range), whatever the stock."""
    role, url = {"shop": ("me", "/me/shop"), "product page": ("me", f"/me/shop/{seeded['sku']}"),
                 "ops dashboard": ("ops", "/ops/")}[page]
    resp, statements = _get(_client(client_as, seeded, role), url)
    assert _seq_scans(conn, statements) == [], page
    assert _code_reads(conn, statements) == [], page


def test_api_products_count_no_code_rows(conn, seeded, client):
    r = seeded["reseller"]
    cap = Captured()
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", cap)
    try:
        resp = signed(client, "GET", "/api/v1/products", r["api_key"], r["api_secret"])
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", cap)
    assert resp.status_code == 200
    n = conn.execute(sa.text("SELECT count(*) FROM codes WHERE sku_id = :s AND status = 'available' AND "
                             "pool_id IS NULL AND max_uses = 1 AND (expires_at IS NULL OR expires_at > now())"),
                     {"s": seeded["sku"]}).scalar()
    sku = conn.execute(sa.text("SELECT sku FROM skus WHERE id = :s"), {"s": seeded["sku"]}).scalar()
    assert {p["sku"]: p["available"] for p in resp.get_json()["items"]}[sku] == n > 1000
    assert _seq_scans(conn, cap.statements) == []
    assert _code_reads(conn, cap.statements) == []


def _rows_read(conn, statements, table: str) -> int:
    """How many rows the captured SELECTs read from `table`, by EXPLAIN ANALYZE (each run with its parameters)."""
    n = 0
    for statement, params in statements:
        if not statement.lstrip().upper().startswith(("SELECT", "WITH")) or table not in statement:
            continue
        plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params).scalar()
        plan = plan if isinstance(plan, list) else json.loads(plan)
        n += sum(node["Actual Rows"] * node["Actual Loops"] for node in _scans(plan[0]["Plan"])
                 if node.get("Relation Name") == table)
    return n


@pytest.mark.parametrize("url", ["/finance/", "/ops/resellers", "/finance/accounts/6001"])
def test_ledger_sums_read_only_the_postings_since_the_last_closed_month(url, conn, seeded, closed_months, client_as):
    """The trial balance, the reseller list's balances and an account's page read the closed months' sums and,
    from postings, only the rows of the entries booked since (and a day before: the id bound), by index: not the
    ledger."""
    role = "ops" if url.startswith("/ops") else "finance"
    _resp, statements = _get(_client(client_as, seeded, role), url)
    assert _seq_scans(conn, statements) == []
    assert any("ledger_period_balances" in s for s, _p in statements)
    q = lambda sql: conn.execute(sa.text(sql)).scalar()  # noqa: E731
    total = q("SELECT count(*) FROM postings")
    recent = q("""SELECT count(*) FROM postings p JOIN journal_entries e ON e.id = p.entry_id
                  WHERE e.created_at >= (SELECT max(ends_at) FROM ledger_closed_periods) - interval '1 day'""")
    read = _rows_read(conn, statements, "postings")
    assert read <= recent + 50 and read * 10 < total, (read, recent, total)


def test_the_ledger_is_vacuumed_for_its_inserts(conn):
    """Index-only scans of the postings since the last closed month fetch no heap page only once VACUUM marked
    them all-visible; the journal is append-only, so autovacuum must come for inserts often (migration 0024)."""
    for table in ("postings", "journal_entries"):
        options = conn.execute(sa.text("SELECT reloptions FROM pg_class WHERE relname = :t"), {"t": table}).scalar()
        assert "autovacuum_vacuum_insert_threshold=20000" in options, table
        assert "autovacuum_vacuum_insert_scale_factor=0" in options, table
