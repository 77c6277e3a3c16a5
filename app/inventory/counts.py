"""Stock counts per SKU without counting ten million code rows: `code_counts` holds signed deltas, written by
database triggers in the same transaction as the code rows they count, and folded now and then into one row per
(SKU, status, pooled). The sum of a group's rows is always exactly the number of its code rows (and of their
unclaimed slots): a delta commits or rolls back with its change, and a fold replaces rows by their sum in one
statement. Nothing is cached, so nothing can be stale.

Why deltas and not one counter row per SKU: every claim would then update the same row and hold its lock until
commit, so concurrent buyers of a SKU would queue on it (claims take codes with SKIP LOCKED precisely so they
don't). Appending a row takes no lock anyone else waits for.

The triggers (migration 0019) are PostgreSQL statement-level triggers with transition tables (one INSERT of a
few grouped rows per statement, however many codes it touched) and SQLite row-level triggers."""

import sqlalchemy as sa

from app.extensions import db
from app.inventory.models import CodeCount

_PG_FUNCTION = """CREATE OR REPLACE FUNCTION code_counts_delta() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO code_counts (sku_id, status, pooled, codes, units)
    SELECT sku_id, status, pool_id IS NOT NULL, count(*), sum(max_uses - uses) FROM new_codes GROUP BY 1, 2, 3;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO code_counts (sku_id, status, pooled, codes, units)
    SELECT sku_id, status, pool_id IS NOT NULL, -count(*), -sum(max_uses - uses) FROM old_codes GROUP BY 1, 2, 3;
  ELSE
    INSERT INTO code_counts (sku_id, status, pooled, codes, units)
    SELECT sku_id, status, pooled, sum(codes), sum(units) FROM (
      SELECT sku_id, status, pool_id IS NOT NULL AS pooled, 1 AS codes, max_uses - uses AS units FROM new_codes
      UNION ALL
      SELECT sku_id, status, pool_id IS NOT NULL, -1, -(max_uses - uses) FROM old_codes) d
    GROUP BY 1, 2, 3 HAVING sum(codes) <> 0 OR sum(units) <> 0;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql"""

_PG_CREATE = [
    _PG_FUNCTION,
    "CREATE TRIGGER code_counts_insert AFTER INSERT ON codes REFERENCING NEW TABLE AS new_codes "
    "FOR EACH STATEMENT EXECUTE FUNCTION code_counts_delta()",
    "CREATE TRIGGER code_counts_update AFTER UPDATE ON codes REFERENCING OLD TABLE AS old_codes "
    "NEW TABLE AS new_codes FOR EACH STATEMENT EXECUTE FUNCTION code_counts_delta()",
    "CREATE TRIGGER code_counts_delete AFTER DELETE ON codes REFERENCING OLD TABLE AS old_codes "
    "FOR EACH STATEMENT EXECUTE FUNCTION code_counts_delta()",
    # TRUNCATE fires no DELETE trigger: an emptied codes table empties its counts.
    "CREATE OR REPLACE FUNCTION code_counts_truncate() RETURNS trigger AS $$ "
    "BEGIN DELETE FROM code_counts; RETURN NULL; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER code_counts_truncate AFTER TRUNCATE ON codes FOR EACH STATEMENT "
    "EXECUTE FUNCTION code_counts_truncate()",
]
_PG_DROP = ["DROP TRIGGER IF EXISTS code_counts_insert ON codes", "DROP TRIGGER IF EXISTS code_counts_update ON codes",
            "DROP TRIGGER IF EXISTS code_counts_delete ON codes", "DROP TRIGGER IF EXISTS code_counts_truncate ON codes",
            "DROP FUNCTION IF EXISTS code_counts_delta()", "DROP FUNCTION IF EXISTS code_counts_truncate()"]

_ADD = ("INSERT INTO code_counts (sku_id, status, pooled, codes, units) "
        "VALUES (NEW.sku_id, NEW.status, NEW.pool_id IS NOT NULL, 1, NEW.max_uses - NEW.uses);")
_TAKE = ("INSERT INTO code_counts (sku_id, status, pooled, codes, units) "
         "VALUES (OLD.sku_id, OLD.status, OLD.pool_id IS NOT NULL, -1, -(OLD.max_uses - OLD.uses));")
_SQLITE_CREATE = [
    f"CREATE TRIGGER code_counts_insert AFTER INSERT ON codes BEGIN {_ADD} END",
    # Only a change of what is counted writes a delta (sealing or revealing a code does not).
    "CREATE TRIGGER code_counts_update AFTER UPDATE OF sku_id, status, pool_id, max_uses, uses ON codes "
    "WHEN OLD.sku_id IS NOT NEW.sku_id OR OLD.status IS NOT NEW.status OR OLD.pool_id IS NOT NEW.pool_id "
    "OR OLD.max_uses IS NOT NEW.max_uses OR OLD.uses IS NOT NEW.uses "
    f"BEGIN {_TAKE} {_ADD} END",
    f"CREATE TRIGGER code_counts_delete AFTER DELETE ON codes BEGIN {_TAKE} END",
]
_SQLITE_DROP = ["DROP TRIGGER IF EXISTS code_counts_insert", "DROP TRIGGER IF EXISTS code_counts_update",
                "DROP TRIGGER IF EXISTS code_counts_delete"]

_REBUILD = ("INSERT INTO code_counts (sku_id, status, pooled, codes, units) "
            "SELECT sku_id, status, pool_id IS NOT NULL, count(*), sum(max_uses - uses) FROM codes "
            "GROUP BY sku_id, status, pool_id IS NOT NULL")


def rebuild(conn) -> None:
    """Count every code again: after codes were written with the triggers off (e.g. a bulk load under
    session_replication_role = replica). One scan of codes; the triggers keep counting from there."""
    conn.exec_driver_sql("DELETE FROM code_counts")
    conn.exec_driver_sql(_REBUILD)


def install(conn) -> None:
    """Count the codes there are and install the triggers that keep counting (migration 0019)."""
    rebuild(conn)
    for sql in _PG_CREATE if conn.dialect.name == "postgresql" else _SQLITE_CREATE:
        conn.exec_driver_sql(sql)


def uninstall(conn) -> None:
    for sql in _PG_DROP if conn.dialect.name == "postgresql" else _SQLITE_DROP:
        conn.exec_driver_sql(sql)


def by_sku() -> tuple[dict[int, dict[str, int]], dict[int, int], int]:
    """Per SKU: codes per status (pooled or not), and the un-pooled available slots (expired ones included);
    with how many delta rows were read."""
    c = CodeCount
    rows = db.session.execute(
        sa.select(c.sku_id, c.status, c.pooled, sa.func.sum(c.codes), sa.func.sum(c.units), sa.func.count())
        .group_by(c.sku_id, c.status, c.pooled)).all()
    codes: dict[int, dict[str, int]] = {}
    units: dict[int, int] = {}
    read = 0
    for sku_id, status, pooled, n, slots, k in rows:
        read += k
        per = codes.setdefault(sku_id, {})
        per[status] = per.get(status, 0) + int(n)
        if status == "available" and not pooled:
            units[sku_id] = int(slots)
    return codes, units, read


def shared_available(sku_ids: list[int] | None = None) -> dict[int, tuple[int, int]]:
    """Per SKU, its un-pooled available codes and their unclaimed slots (expired ones included), from the delta
    rows of those SKUs alone."""
    c = CodeCount
    q = (sa.select(c.sku_id, sa.func.sum(c.codes), sa.func.sum(c.units))
         .where(c.status == "available", c.pooled.is_(False)).group_by(c.sku_id))
    if sku_ids is not None:
        q = q.where(c.sku_id.in_(sku_ids))
    return {sku_id: (int(n), int(slots)) for sku_id, n, slots in db.session.execute(q).all()}


def fold() -> int:
    """(Periodic job, every minute: jobs.maintenance.fold_stock_counts.) Replace the delta rows by one row per (SKU, status, pooled), in one statement; commits. Concurrent
    writers' uncommitted deltas are not seen and stay; a concurrent fold skips the rows this one took."""
    if db.session.get_bind().dialect.name == "postgresql":
        n = db.session.execute(sa.text(
            "WITH gone AS (DELETE FROM code_counts RETURNING sku_id, status, pooled, codes, units) "
            "INSERT INTO code_counts (sku_id, status, pooled, codes, units) "
            "SELECT sku_id, status, pooled, sum(codes), sum(units) FROM gone GROUP BY 1, 2, 3 "
            "HAVING sum(codes) <> 0 OR sum(units) <> 0")).rowcount
    else:  # one writer at a time: read, delete, write back inside the transaction
        top = db.session.scalar(sa.select(sa.func.max(CodeCount.id)))
        if top is None:
            return 0
        db.session.execute(sa.text(
            "INSERT INTO code_counts (sku_id, status, pooled, codes, units) "
            "SELECT sku_id, status, pooled, sum(codes), sum(units) FROM code_counts WHERE id <= :top "
            "GROUP BY 1, 2, 3 HAVING sum(codes) <> 0 OR sum(units) <> 0"), {"top": top})
        n = db.session.execute(sa.delete(CodeCount).where(CodeCount.id <= top)).rowcount
    db.session.commit()
    return n
