"""The app's own claim statement, captured from one real call and replayed bare with psycopg.

The statement is not retyped here: `capture_claim` records what `app.inventory.services.claim()` sends (one
`WITH picked AS MATERIALIZED (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) UPDATE codes …` on PostgreSQL), so
the benches measure exactly the SQL the app sends, minus everything around it (HTTP, sessions, the order
and payment rows, the ORM). If the app stops claiming that way, the capture fails loudly.
"""

import threading
import time
from datetime import datetime

import psycopg
import sqlalchemy as sa

#: The LIMIT the claim statement is captured with, found again among its parameters and replaced.
SENTINEL = 7919


def capture_claim(sku_id: int, order_id: int | None = None):
    """The statement and DB-API parameters of one real `inventory.claim` call (rolled back); inside an app
    context."""
    from app.extensions import db
    from app.inventory import services as inventory

    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("WITH", "UPDATE")):
            seen.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        inventory.claim(sku_id, order_id, SENTINEL)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
        db.session.rollback()
    if not seen:
        raise RuntimeError("inventory.claim() sent no UPDATE: the bench no longer knows how the app claims codes")
    statement, params = seen[-1]
    if "SKIP LOCKED" not in statement and db.engine.dialect.name == "postgresql":
        raise RuntimeError(f"claim() did not lock with SKIP LOCKED: {statement}")
    with_limit(params, 1)  # fails now if the LIMIT cannot be found among the parameters
    return statement, params


def with_limit(params, n: int):
    """The captured parameters with the LIMIT set to n and every timestamp set to now."""
    from app.core.ids import utcnow

    now = utcnow()

    def fix(v):
        return n if v == SENTINEL and not isinstance(v, bool) else now if isinstance(v, datetime) else v

    if isinstance(params, dict):
        hits = [k for k, v in params.items() if v == SENTINEL]
        fixed = {k: fix(v) for k, v in params.items()}
    else:
        hits = [i for i, v in enumerate(params) if v == SENTINEL]
        fixed = type(params)(fix(v) for v in params)
    if len(hits) != 1:
        raise RuntimeError(f"cannot find the LIMIT among the claim's parameters: {params}")
    return fixed


def claim_all(dsn: str, statement: str, params, threads: int, timeout: float = 120) -> dict:
    """Claim every available row of the captured SKU, one per transaction, from `threads` connections."""
    counts = {"claims": 0, "errors": []}
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)
    deadline = time.time() + timeout

    def worker():
        claims = 0
        try:
            with psycopg.connect(dsn) as conn:
                start.wait(timeout=30)
                while time.time() < deadline:
                    with conn.transaction():
                        got = conn.execute(statement, with_limit(params, 1)).rowcount
                    if got != 1:
                        break  # none left (or every one left is being claimed by another thread)
                    claims += 1
        except Exception as e:  # reported, never hidden
            with lock:
                counts["errors"].append(f"{e.__class__.__name__}: {e}")
            start.abort()
        with lock:
            counts["claims"] += claims

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    try:
        start.wait(timeout=60)
    except threading.BrokenBarrierError:
        pass  # a worker could not connect: its error is in the report
    t0 = time.perf_counter()
    for t in pool:
        t.join(max(0.1, deadline - time.time() + 5))
    elapsed = time.perf_counter() - t0
    return {**counts, "elapsed_s": round(elapsed, 4),
            "claims_per_s": round(counts["claims"] / elapsed, 1) if elapsed and counts["claims"] else None}
