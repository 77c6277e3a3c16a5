"""Readiness: is this process able to serve? The database answers, Redis answers, the vault's master key
works, the schema is at the code's migration head, and every queue has a live worker (docs/operations.md).

Each check is bounded by HEALTH_CHECK_TIMEOUT through the service's own timeout (a connect timeout, a
statement timeout, TCP user timeout and keepalives, a socket timeout), so a stopped or unreachable service
fails the probe instead of hanging it. Messages are plain and carry no secret, URL or exception text: the
details go to the log.

The probe uses its own small connections (a database pool of one kept connection, one Redis client per app),
so it neither waits behind nor takes from the app's pool.
"""

import functools
import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import redis
import sqlalchemy as sa
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.config import ROOT
from app.queues import QUEUES

log = logging.getLogger(__name__)

MIGRATIONS = ROOT / "migrations"


@dataclass
class Check:
    name: str
    ok: bool
    message: str


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL (None for an in-memory database or another backend)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


def probe_engine(url: str, timeout: float) -> sa.Engine:
    """An engine of one kept connection, bounded by `timeout`: libpq's connect_timeout, and tcp_user_timeout
    with keepalives so a connection whose server vanished from the network (no reset) fails instead of waiting
    for TCP to give up; SQLite's lock wait. Statements are bounded per check (statement_timeout)."""
    if url.startswith("sqlite"):
        return sa.create_engine(url, connect_args={"timeout": timeout}, poolclass=sa.pool.NullPool)
    seconds = max(1, round(timeout))
    return sa.create_engine(url, connect_args={"connect_timeout": seconds, "tcp_user_timeout": seconds * 1000,
                                               "keepalives": 1, "keepalives_idle": seconds,
                                               "keepalives_interval": 1, "keepalives_count": 2},
                            pool_size=1, max_overflow=2, pool_timeout=timeout, pool_pre_ping=True)


def probe_redis(url: str, timeout: float) -> redis.Redis:
    """A Redis client that gives up after `timeout` seconds and does not retry (redis-py retries by default)."""
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                retry=Retry(NoBackoff(), 0))


def _query(engine: sa.Engine, timeout: float, statement: str) -> list:
    path = sqlite_path(str(engine.url))
    if path is not None and not os.path.exists(path):
        # Connecting would create an empty file, and the app would answer on a database that is not there.
        raise FileNotFoundError("the SQLite database file does not exist")
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SET statement_timeout = {int(timeout * 1000)}")
        rows = conn.exec_driver_sql(statement).all()
        conn.rollback()
    return rows


def _failed(name: str, what: str, e: BaseException) -> Check:
    log.warning("health check %s failed: %s: %s", name, type(e).__name__, e)
    return Check(name, False, what)


def check_database(engine: sa.Engine, timeout: float) -> Check:
    try:
        _query(engine, timeout, "SELECT 1")
    except FileNotFoundError as e:
        return _failed("database", "the SQLite database file does not exist", e)
    except sa.exc.SQLAlchemyError as e:
        return _failed("database", f"the {engine.dialect.name} database did not answer", e)
    return Check("database", True, f"{engine.dialect.name} answers")


def _scripts():
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


def migration_heads() -> set[str]:
    """The head revisions of migrations/ (read from the scripts; no database needed)."""
    return set(_scripts().get_heads())


@functools.cache
def _known_revisions() -> frozenset[str]:
    return frozenset(r.revision for r in _scripts().walk_revisions())


def check_migrations(engine: sa.Engine, timeout: float, heads: set[str] | None) -> Check:
    if not heads:
        return Check("migrations", False, "the migration scripts (migrations/) could not be read")
    try:
        current = {row[0] for row in _query(engine, timeout, "SELECT version_num FROM alembic_version")}
    except (FileNotFoundError, sa.exc.SQLAlchemyError) as e:
        return _failed("migrations", "the schema's revision could not be read (no schema yet, or no database)", e)
    if current == heads:
        return Check("migrations", True, f"at {', '.join(sorted(heads))}")
    if current and not current & _known_revisions():
        # A newer release's expand migration ran during a rolling deploy (docs/deploy.md): the schema only grew,
        # so this older code still works on it and must stay in the pool until it is replaced.
        return Check("migrations", True, f"at {', '.join(sorted(current))}, ahead of this code's "
                                         f"{', '.join(sorted(heads))} (a newer release migrated it)")
    return Check("migrations", False, f"the database is at {', '.join(sorted(current)) or 'no revision'}, the code "
                                      f"expects {', '.join(sorted(heads))}: run `quanyi db upgrade`")


def check_vault(engine: sa.Engine, timeout: float, master_key: str, old_keys: str) -> Check:
    from app.core import vault

    try:
        vault.self_test(master_key, old_keys)
    except vault.VaultError as e:
        return _failed("vault", str(e), e)
    try:
        rows = _query(engine, timeout, "SELECT id, master_key_id, wrapped FROM data_keys ORDER BY id DESC LIMIT 3")
    except (FileNotFoundError, sa.exc.SQLAlchemyError) as e:
        return _failed("vault", "the master key loads, but the data keys could not be read from the database", e)
    try:
        vault.self_test(master_key, old_keys, rows)
    except vault.VaultError as e:
        return _failed("vault", str(e), e)
    return Check("vault", True, f"the master key wraps and unwraps ({len(rows)} data keys tried)")


def check_redis(client: redis.Redis) -> Check:
    try:
        client.ping()
    except redis.RedisError as e:
        return _failed("redis", "Redis did not answer PING", e)
    return Check("redis", True, "PONG")


def check_workers(client: redis.Redis, window: float, queues: tuple[str, ...] = QUEUES) -> Check:
    """At least one worker per queue whose heartbeat is at most `window` seconds old."""
    from rq import Worker

    try:
        workers = Worker.all(connection=client)
    except redis.RedisError as e:
        return _failed("workers", "the workers could not be listed (Redis did not answer)", e)
    now = datetime.now(UTC)
    covered: set[str] = set()
    alive = 0
    for worker in workers:
        beat = worker.last_heartbeat
        if beat is None:
            continue
        if beat.tzinfo is None:
            beat = beat.replace(tzinfo=UTC)
        if (now - beat).total_seconds() <= window:
            alive += 1
            covered.update(worker.queue_names())
    missing = [q for q in queues if q not in covered]
    if missing:
        return Check("workers", False, f"no live worker (heartbeat within {window:g} s) on queue(s): "
                                       f"{', '.join(missing)}")
    return Check("workers", True, f"{alive} live worker(s) cover every queue")


class Probe:
    """What readiness needs, made once per app: the probe's engine and Redis client, the migration heads."""

    def __init__(self, app: Flask):
        cfg = app.config
        self.timeout = float(cfg["HEALTH_CHECK_TIMEOUT"])
        self.engine = probe_engine(cfg["SQLALCHEMY_DATABASE_URI"], self.timeout)
        self.redis = probe_redis(cfg["REDIS_URL"], self.timeout)
        try:
            self.heads: set[str] | None = migration_heads()
        except Exception as e:  # a broken or missing migrations/ is a failed check, not a failed probe
            log.warning("health check migrations: scripts not readable: %s: %s", type(e).__name__, e)
            self.heads = None


def _probe() -> Probe:
    probe = current_app.extensions.get("health_probe")
    if probe is None:
        probe = current_app.extensions["health_probe"] = Probe(current_app)
    return probe


def readiness() -> list[Check]:
    cfg = current_app.config
    probe = _probe()
    master, old = cfg["QUANYI_MASTER_KEY"], cfg.get("QUANYI_OLD_MASTER_KEYS") or ""
    return [
        _guarded("database", check_database, probe.engine, probe.timeout),
        _guarded("migrations", check_migrations, probe.engine, probe.timeout, probe.heads),
        _guarded("vault", check_vault, probe.engine, probe.timeout, master, old),
        _guarded("redis", check_redis, probe.redis),
        _guarded("workers", check_workers, probe.redis, float(cfg["HEALTH_WORKER_HEARTBEAT_SECONDS"])),
    ]


def _guarded(name: str, check, *args) -> Check:
    """A check that breaks in a way it did not foresee fails, in words; the probe still answers JSON."""
    try:
        return check(*args)
    except Exception as e:
        log.exception("health check %s broke", name)
        return Check(name, False, f"the check itself failed ({type(e).__name__})")


def report(checks: list[Check]) -> dict:
    return {"status": "ready" if all(c.ok for c in checks) else "unready", "checks": [asdict(c) for c in checks]}
