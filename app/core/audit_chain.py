"""The audit log as a hash chain: every row carries `seq` (its place in the chain) and `hash` =
SHA-256(previous row's hash + its own canonical content). Rows are sealed when their transaction commits,
under one chain lock (a transaction-level advisory lock on PostgreSQL; SQLite serialises writers anyway),
so the chain follows commit order and the lock is held only for the last few statements of a transaction,
after all its other locks were taken. Sealed rows are append-only (database triggers, migration 0016).

`verify()` walks the chain; an edited row breaks its own hash, a deleted one leaves a gap in `seq`."""

import hashlib
import json
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core.models import AuditLog

CHAIN_LOCK = 0x41554449  # "AUDI": the advisory lock key of the chain head
GENESIS = "0" * 64


def canonical(seq: int, actor_id, action, target_type, target_id, detail, ip, user_agent,
              created_at: datetime) -> bytes:
    return json.dumps({"seq": seq, "actor_id": actor_id, "action": action, "target_type": target_type,
                       "target_id": target_id, "detail": detail or {}, "ip": ip, "user_agent": user_agent,
                       "created_at": created_at.replace(tzinfo=None).isoformat(timespec="microseconds")},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def link(prev_hash: str, content: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + content).hexdigest()


def row_hash(prev_hash: str, row) -> str:
    return link(prev_hash, canonical(row.seq, row.actor_id, row.action, row.target_type, row.target_id,
                                     row.detail, row.ip, row.user_agent, row.created_at))


@event.listens_for(Session, "after_flush")
def _collect(session, _context):
    new = [o for o in session.new if isinstance(o, AuditLog)]
    if new:
        session.info.setdefault("audit_unsealed", []).extend(new)


@event.listens_for(Session, "before_commit")
def _seal(session):
    if not session.info.get("audit_unsealed") and not any(isinstance(o, AuditLog) for o in session.new):
        return
    session.flush()
    rows = [o for o in session.info.pop("audit_unsealed", []) if sa.inspect(o).persistent and o.hash is None]
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK})
    head = conn.execute(sa.select(AuditLog.seq, AuditLog.hash).where(AuditLog.seq.is_not(None))
                        .order_by(AuditLog.seq.desc()).limit(1)).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    for row in sorted(rows, key=lambda r: r.id):
        seq += 1
        row.seq = seq
        row.hash = prev = row_hash(prev, row)
    session.flush()


@event.listens_for(Session, "after_soft_rollback")
def _drop(session, previous_transaction):
    if previous_transaction.parent is None:
        session.info.pop("audit_unsealed", None)


def verify(session: Session) -> dict:
    """{"ok": True, "entries": n} or {"ok": False, "entries": n, "broken": {"id", "seq", "reason"}}."""
    prev, expected, n = GENESIS, 1, 0
    rows = session.execute(sa.select(AuditLog).order_by(AuditLog.seq.is_(None), AuditLog.seq, AuditLog.id)
                           .execution_options(yield_per=1000)).scalars()
    for row in rows:
        if row.seq is None:
            return _broken(n, row, "not sealed into the chain")
        if row.seq != expected:
            return _broken(n, row, f"rows missing before it (expected seq {expected}, found {row.seq})")
        if row.hash != row_hash(prev, row):
            return _broken(n, row, "its content or hash was changed")
        prev, expected, n = row.hash, expected + 1, n + 1
    return {"ok": True, "entries": n}


def _broken(n: int, row, reason: str) -> dict:
    return {"ok": False, "entries": n, "broken": {"id": row.id, "seq": row.seq, "reason": reason}}


# --- append-only: sealed rows refuse UPDATE, every row refuses DELETE --------------------------------------

_PG_CREATE = ["""CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' OR OLD.hash IS NOT NULL THEN
    RAISE EXCEPTION 'audit_log is append-only (UPDATE and DELETE are refused)';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql""",
              "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
              "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"]
_PG_DROP = ["DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log"]
_SQLITE_CREATE = ["CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log WHEN OLD.hash IS NOT NULL "
                  "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (UPDATE refused)'); END",
                  "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
                  "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (DELETE refused)'); END"]
_SQLITE_DROP = ["DROP TRIGGER IF EXISTS audit_log_no_update", "DROP TRIGGER IF EXISTS audit_log_no_delete"]


def protect(conn) -> None:
    """Install the append-only triggers (migration 0016)."""
    for sql in _PG_CREATE if conn.dialect.name == "postgresql" else _SQLITE_CREATE:
        conn.exec_driver_sql(sql)


def unprotect(conn) -> None:
    """Drop the triggers: the one privileged path (a database owner's maintenance, e.g. purging a test
    database or the chain tests). Call protect() again afterwards; verify() still detects any change made."""
    for sql in _PG_DROP if conn.dialect.name == "postgresql" else _SQLITE_DROP:
        conn.exec_driver_sql(sql)
