"""The allocation SQL of `app.inventory.services.reserve()`, run bare with psycopg from many threads.

The statements are not retyped here: they are captured from one real call of `reserve()` (the SELECT … FOR
UPDATE SKIP LOCKED LIMIT 1 and the UPDATE … SET status='reserved'), so the bench measures exactly the SQL
the app sends, minus everything around it (HTTP, sessions, the order and payment rows, the ORM).
"""

import threading
import time
from dataclasses import dataclass
from datetime import datetime

import psycopg
import sqlalchemy as sa


@dataclass
class Captured:
    select_sql: str
    select_params: dict
    update_sql: str
    update_params: dict
    #: The UPDATE's parameter names that carry the claimed ids (expanded from `Code.id.in_(ids)`).
    id_keys: list[str]


def capture_reserve(sku_id: int) -> Captured:
    """Call reserve() for one unit inside an app context, record its two statements, roll it back."""
    from app.extensions import db
    from app.inventory import services as inventory

    seen: list[tuple[str, dict]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, dict(parameters or {})))

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        ids = inventory.reserve(sku_id, None, 1)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
        db.session.rollback()
    select = next((s, p) for s, p in seen if s.lstrip().upper().startswith("SELECT"))
    update = next((s, p) for s, p in seen if s.lstrip().upper().startswith("UPDATE"))
    if "SKIP LOCKED" not in select[0]:
        raise RuntimeError(f"reserve() did not lock with SKIP LOCKED: {select[0]}")
    id_keys = sorted(k for k, v in update[1].items() if isinstance(v, int) and v in ids)
    if len(id_keys) != len(ids):
        raise RuntimeError(f"cannot find the claimed ids among the UPDATE parameters: {update[1]}")
    return Captured(select[0], select[1], update[0], update[1], id_keys)


def _now_params(params: dict, now: datetime) -> dict:
    return {k: (now if isinstance(v, datetime) else v) for k, v in params.items()}


def claim_all(dsn: str, sql: Captured, threads: int, timeout: float = 120) -> dict:
    """Claim every available row of the captured SKU, one per transaction, from `threads` connections."""
    from app.core.ids import utcnow

    counts = {"claims": 0, "lost_updates": 0, "errors": []}
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)
    deadline = time.time() + timeout

    def worker():
        claims = lost = 0
        try:
            with psycopg.connect(dsn) as conn:
                start.wait(timeout=30)
                while time.time() < deadline:
                    with conn.transaction():
                        now = utcnow()
                        rows = conn.execute(sql.select_sql, _now_params(sql.select_params, now)).fetchall()
                        if not rows:
                            break
                        params = _now_params(sql.update_params, now)
                        params.update(zip(sql.id_keys, (r[0] for r in rows), strict=True))
                        if conn.execute(sql.update_sql, params).rowcount == len(rows):
                            claims += 1
                        else:
                            lost += 1
        except Exception as e:  # reported, never hidden
            with lock:
                counts["errors"].append(f"{e.__class__.__name__}: {e}")
            start.abort()
        with lock:
            counts["claims"] += claims
            counts["lost_updates"] += lost

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
            "claims_per_s": round(counts["claims"] / elapsed, 1) if elapsed else None}
