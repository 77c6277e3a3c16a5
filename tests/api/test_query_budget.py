"""SQL statements per reseller API request: the hot path of a reseller's integration (POST /api/v1/orders) must
stay lean. Every statement counts; in these tests each request's transaction is a SAVEPOINT … RELEASE (or ROLLBACK
TO) pair, 2 of the counts, that a server's BEGIN/COMMIT does not send as statements. The budgets are what the path
needs now (+0 slack): a change that adds a statement must say why and raise the budget here. Per-process caches
(ledger account ids) are warm, as in a running server; nothing caches a balance, a price or stock."""

import os

import sqlalchemy as sa

TRACE = os.environ.get("QUERY_TRACE")


def _statements(count_queries, fn):
    seen = []

    def grab(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split())[:200])

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", grab)
    try:
        with count_queries() as q:
            r = fn()
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", grab)
    if TRACE:
        print(f"\n{q.n} statements")
        print("\n".join(seen))
    return r, q.n


def _warm(caller, code):
    """Two orders first, so the per-process cache of ledger account ids is as in a running server (the first
    order creates the accounts it posts to; they are cached when looked up after their commit)."""
    for n in (1, 2):
        r = caller.post("/api/v1/orders", json={"client_order_no": f"WARM-{n}", "sku": code, "quantity": 1})
        assert r.status_code == 201, r.get_data(as_text=True)


def test_card_code_order_budget(caller, card, count_queries):
    code = card[0]
    _warm(caller, code)
    r, n = _statements(count_queries, lambda: caller.post("/api/v1/orders", json={
        "client_order_no": "B-1", "sku": code, "quantity": 1}))
    assert r.status_code == 201 and r.json["status"] == "delivered"
    # Was 34: ledger accounts looked up on every posting, the balance summed twice, a SELECT before each journal
    # entry, the code reserved then delivered in two UPDATEs, the key and its reseller in two SELECTs, tier and
    # tier price in two, the charge and the revenue in separate INSERTs, and the order and its SKU reloaded after
    # the commit for the answer, and the order written paid then UPDATEd to delivered (now written delivered in
    # the transaction that claims its codes). 14 before risk control (issue 17): its decision row (INSERT) and the
    # shipped black-list rule's list lookup (SELECT) add 2; the reseller's organization (its freeze) comes with the key.
    assert n <= 16, n


def test_repeated_order_budget(caller, card, count_queries):
    code = card[0]
    _warm(caller, code)
    r, n = _statements(count_queries, lambda: caller.post("/api/v1/orders", json={
        "client_order_no": "WARM-1", "sku": code, "quantity": 1}))
    assert r.status_code == 200
    assert n <= 6, n  # was 11 (the key and its reseller apart; the order and its SKU reloaded after the rollback)


def test_topup_order_budget(caller, card, topup, count_queries):
    _warm(caller, card[0])
    r, n = _statements(count_queries, lambda: caller.post("/api/v1/orders", json={
        "client_order_no": "T-1", "sku": topup[0], "quantity": 1, "account": "13800138000"}))
    assert r.status_code == 201, r.get_data(as_text=True)
    assert n <= 22, n  # was 32; 21 before risk control (issue 17): its decision row and list lookup, the organization with the key


def test_get_order_budget(caller, card, count_queries):
    _warm(caller, card[0])
    no = caller.get("/api/v1/orders", query={"client_order_no": "WARM-1"}).json["items"][0]["order_no"]
    r, n = _statements(count_queries, lambda: caller.get(f"/api/v1/orders/{no}"))
    assert r.status_code == 200 and r.json["status"] == "delivered"
    assert n <= 5, n  # was 6 (the key and its reseller in two SELECTs)
