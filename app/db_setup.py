"""Engine settings per database.

SQLite (the embedded default) runs every transaction as BEGIN IMMEDIATE: writers are serialised, so a
read-then-write inside one transaction is never raced (DESIGN.md, invariant 1). The one exception is a
request to a page registered with `read_only()`: its transactions begin DEFERRED, so in WAL mode it reads
a snapshot without waiting for (or holding up) the writers. Such a transaction may not write; a write in
it raises at once instead of risking SQLITE_BUSY on the lock upgrade.

Pragmas, per connection (docs/performance.md, "The embedded default and the retail path"):
- journal_mode=WAL: readers and the one writer don't block each other.
- synchronous=NORMAL: in WAL mode a commit no longer fsyncs; the WAL is synced at checkpoints. A power cut
  may lose the last commits, never corrupt the file; a crashed process loses nothing.
- busy_timeout=60000: a writer waits its turn instead of failing.
- cache_size=-32000 (32 MiB of page cache per connection), mmap_size=256 MiB, temp_store=MEMORY.
"""

from flask import Flask, has_request_context, request
from sqlalchemy import event

from app.extensions import db

#: Endpoints whose requests only read (GET/HEAD): their SQLite transactions begin DEFERRED.
READ_ONLY_ENDPOINTS: set[str] = set()
#: Statements a deferred (read-only) transaction may run.
READS = ("BEGIN", "SELECT", "PRAGMA", "WITH", "SAVEPOINT", "RELEASE", "ROLLBACK")

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=60000",
    "PRAGMA cache_size=-32000",
    "PRAGMA mmap_size=268435456",
    "PRAGMA temp_store=MEMORY",
)


def read_only(endpoint: str) -> None:
    """Mark a GET endpoint as read-only (see the module docstring)."""
    READ_ONLY_ENDPOINTS.add(endpoint)


def _deferred() -> bool:
    return (has_request_context() and request.method in ("GET", "HEAD")
            and request.endpoint in READ_ONLY_ENDPOINTS)


def engine_options(app: Flask) -> None:
    """Before the engine is made (db.init_app): SQLite's connection arguments. A local file cannot go stale
    like a server connection, so no ping (a statement) before each checkout."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    opts = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    opts["connect_args"] = {**opts.get("connect_args", {}), "timeout": 60, "check_same_thread": False}
    opts["pool_pre_ping"] = False
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = opts


def init_app(app: Flask) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        # Let SQLAlchemy, not pysqlite, emit BEGIN, so it can be BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in PRAGMAS:
            cur.execute(pragma)
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        deferred = _deferred()
        conn.info["sqlite_read_only"] = deferred
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

    @event.listens_for(engine, "before_cursor_execute")
    def _guard(conn, _cursor, statement, *_args):
        if conn.info.get("sqlite_read_only") and not statement.lstrip().upper().startswith(READS):
            raise RuntimeError(f"a write in a read-only request ({request.endpoint}): {statement[:60]}")

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _end(conn):
        conn.info.pop("sqlite_read_only", None)
