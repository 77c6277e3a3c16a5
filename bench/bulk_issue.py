"""One 100,000-code wholesale order from the signed API call to its ready files; prints one JSON object.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/quanyi_bench_b .venv/bin/python bench/bulk_issue.py \
        [--codes 100000]

The database named by DATABASE_URL is WIPED (PostgreSQL: schema public dropped, the database created first
if needed; SQLite, `sqlite:////abs/path.db`: the file deleted) and rebuilt by the migrations. Redis is
REDIS_URL (its queues must be empty) or a private redis-server on a free port. gunicorn (1 worker, 4
threads) serves the app and one `flask --app wsgi worker --no-cron` (RQ's forking worker, as in production)
waits on the queues; both are started here and stopped again, also when the run fails.

Seeding is not timed: a reseller with enough balance, and two SKUs with N codes each, sealed with the
vault's Sealer and inserted in chunks of 5,000 rows. Then the clock runs:

1. `post`: the signed `POST /api/v1/orders` for N codes, answered 201 `processing` (the order, the claim of
   all N rows in one statement, the balance debit, the issuance row; the job is enqueued after commit);
2. `queue`: until the worker has leased the issuance (polled every 20 ms);
3. `issue`: the issuance job marks the codes delivered in batches of ISSUANCE_BATCH with a revenue posting
   each, until its phase turns to `files`;
4. `files`: the CSV and XLSX files written (every code decrypted once per file), sealed and stored; the
   order `delivered`, the issuance `done`.

Peak memory is the RSS high-water mark (VmHWM, sampled every 5 ms) of RQ's work horse, which ran the job
(phases 3-4), of the worker that forked it, and of the gunicorn worker that answered the POST.

Baselines, in the same run on the same database, on the second SKU: `bare_sql` is the claim statement the
app sends (captured from one call of `inventory.claim`, not retyped) run once through the bare DB-API
connection for all N rows; `bare_sql_csv` adds selecting the N rows' ciphertexts in chunks, decrypting them
with AES-GCM and writing the CSV in memory (the least a "ready file" can cost); `bare_sql_csv_xlsx` also
writes the XLSX with the same library and options as the app. Afterwards the database is checked: N codes
delivered to the order, distinct; both files hold N rows; the balance exact; the ledger balanced.

Exit 0 only if nothing in the report fails (bench/verdict.py, bench/README.md): the check, every figure it
must print (REQUIRED below); the targets are reported, not enforced.
"""

import argparse
import csv
import io
import json
import logging
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/bulk_issue.py`
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench import verdict  # noqa: E402
from bench.checkout import Stack, free_port, make_app, reset_schema, sandbox_keys, tail  # noqa: E402
from bench.fulfilment import ensure_database, start_redis  # noqa: E402
from bench.rawsql import capture_claim, with_limit  # noqa: E402

SKU, RAW_SKU = "BENCH-BULK", "BENCH-BULK-RAW"
PRICE_FEN, DISCOUNT_BP = 100, 1000  # the reseller pays 0.90 a code
UNIT_FEN = PRICE_FEN * (10000 - DISCOUNT_BP) // 10000
CHUNK = 5000


def say(message: str) -> None:
    print(f"bench/bulk_issue.py: {message}", file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/bulk_issue.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--codes", type=int, default=100_000, help="codes in the order, default 100000 (the maximum)")
    p.add_argument("--timeout", type=float, default=600, help="seconds the issuance may take, default 600")
    args = p.parse_args()
    if not 500 <= args.codes <= 100_000:
        p.error("--codes must be from 500 (ISSUANCE_THRESHOLD: smaller orders are not issued by the job) "
                "to 100000 (RESELLER_MAX_QUANTITY)")
    return args


def reset_database(url: str, env: dict) -> None:
    """Wipe the database and rebuild it with the migrations."""
    if not url.startswith("sqlite"):
        ensure_database(url)
        reset_schema(url, env)
        return
    path = Path(sa.engine.make_url(url).database)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(f"db upgrade failed:\n{done.stdout}\n{done.stderr}")


def seed_codes(sku_id: int, n: int, prefix: str) -> None:
    """N fresh codes, sealed like an import seals them, inserted in chunks (Core executemany)."""
    from app.core import vault
    from app.extensions import db
    from app.inventory.models import Code

    sealer = vault.Sealer()
    for start in range(0, n, CHUNK):
        rows = []
        for i in range(start, min(n, start + CHUNK)):
            code = f"{prefix}-{i:06d}-{secrets.token_hex(6).upper()}"
            rows.append({"sku_id": sku_id, "data_key_id": sealer.key_id, "code_ct": sealer.seal(code),
                         "secret_ct": None, "code_hash": sealer.digest(code), "tail": code[-4:], "status": "available",
                         "max_uses": 1, "uses": 0})
        db.session.execute(sa.insert(Code), rows)
        db.session.commit()


def seed(app, n: int) -> dict:
    from app.accounts import services as accounts
    from app.accounts.models import Role
    from app.catalog import services as catalog
    from app.channels import resellers
    from app.extensions import db

    with app.app_context():
        t0 = time.perf_counter()
        tier = resellers.save_tier("基准 批发", DISCOUNT_BP, None)
        opening = UNIT_FEN * n + 100_000
        reseller, cred, secret = resellers.create("基准批发代理商", tier, None, opening_balance_fen=opening)
        accounts.create_user("bulk@bench.example", "bench-pass-1", role=Role.reseller,
                             organization=reseller.organization)
        ids = {}
        for code in (SKU, RAW_SKU):
            ids[code] = catalog.add_sku(None, code, name=f"基准测试 {code}", type="card_code",
                                        face_value_fen=PRICE_FEN, price_fen=PRICE_FEN, brand="腾讯视频",
                                        category="video").id
        seed_codes(ids[SKU], n, "BULK")
        seed_codes(ids[RAW_SKU], n, "RAW")
        if db.engine.dialect.name == "postgresql":
            db.session.commit()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE codes")
                conn.exec_driver_sql("CHECKPOINT")  # the seeding's writes flushed before any clock runs
        out = {"reseller_id": reseller.id, "api_key": cred.api_key, "secret": secret, "opening_fen": opening,
               "sku_id": ids[SKU], "raw_sku_id": ids[RAW_SKU], "seed_s": round(time.perf_counter() - t0, 1)}
        db.session.commit()
    return out


def start_worker(stack: Stack, env: dict, redis_url: str) -> subprocess.Popen:
    """The RQ worker as production runs it, up and idle before the order is placed."""
    from rq import Worker

    log = stack.logs / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--no-cron"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    stack.procs.append(("worker", proc))
    conn = redis.Redis.from_url(redis_url)
    deadline = time.time() + 60
    while not any(w.pid == proc.pid and w.get_state() == "idle" for w in Worker.all(connection=conn)):
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"the worker did not come up:\n{tail(log)}")
        time.sleep(0.1)
    return proc


def hwm(pid: int) -> int:
    """VmHWM (the RSS high-water mark of the process's memory since its last exec or fork), in bytes; 0 when
    the process is gone. ru_maxrss would not do: a process started by exec from this one inherits this
    one's high-water mark."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakRss(threading.Thread):
    """Samples every 5 ms the VmHWM of a process and of each of its children (RQ's work horses): the
    highest value seen per role. A horse's last few milliseconds before it exits may go unseen."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak = pid, {"parent": 0, "children": 0}
        self.halt = threading.Event()

    def run(self) -> None:
        import psutil

        parent = psutil.Process(self.pid)
        while not self.halt.wait(0.005):
            self.peak["parent"] = max(self.peak["parent"], hwm(self.pid))
            try:
                kids = parent.children(recursive=True)
            except psutil.Error:
                return
            for kid in kids:
                self.peak["children"] = max(self.peak["children"], hwm(kid.pid))

    def stop(self) -> dict[str, int]:
        self.halt.set()
        self.join(5)
        return self.peak


def post_order(base: str, seeded: dict, n: int) -> tuple[httpx.Response, float]:
    from app.channels import signing

    body = json.dumps({"client_order_no": "BULK-0001", "sku": SKU, "quantity": n}).encode()
    headers = signing.headers(seeded["api_key"], seeded["secret"], "POST", "/api/v1/orders", "", body,
                              int(time.time()), secrets.token_hex(12))
    headers["Content-Type"] = "application/json"
    t0 = time.perf_counter()
    resp = httpx.post(base + "/api/v1/orders", content=body, headers=headers, timeout=600)
    return resp, time.perf_counter() - t0


def watch_issuance(url: str, order_no: str, worker: subprocess.Popen, timeout: float) -> dict:
    """Poll the issuance row: the instants (perf_counter) it was leased, reached `files`, and was done. A
    plain engine of its own: the app's SQLite engine would take the write lock (BEGIN IMMEDIATE) for each
    poll and hold up the job."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    query = sa.text("SELECT i.status, i.phase FROM issuances i JOIN orders o ON o.id = i.order_id "
                    "WHERE o.order_no = :n")
    seen: dict[str, float] = {}
    deadline = time.perf_counter() + timeout
    try:
        with engine.connect() as conn:
            while True:
                row = conn.execute(query, {"n": order_no}).first()
                conn.rollback()
                now = time.perf_counter()
                if row is not None:
                    status, phase = row
                    if status != "queued":
                        seen.setdefault("leased", now)
                    if phase == "files" or status == "done":
                        seen.setdefault("files", now)
                    if status == "done":
                        seen.setdefault("done", now)
                        return seen
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited with {worker.returncode} before the issuance was done")
                if now > deadline:
                    raise RuntimeError(f"the issuance was not done after {timeout:.0f} s: {row}")
                time.sleep(0.02)
    finally:
        engine.dispose()


def check(app, seeded: dict, order_no: str, n: int) -> dict:
    """What the database says afterwards (it alone decides whether the run counts)."""
    from app.channels import balance
    from app.channels.models import IssuedFile
    from app.core import vault
    from app.extensions import db
    from app.inventory.models import Code
    from app.ledger import services as ledger
    from app.ledger.models import Posting
    from app.orders.models import Order

    with app.app_context():
        order = db.session.scalars(sa.select(Order).where(Order.order_no == order_no)).one()
        codes = db.session.execute(sa.select(sa.func.count(), sa.func.count(sa.distinct(Code.code_hash)))
                                   .where(Code.order_id == order.id, Code.status == "delivered")).one()
        files = {}
        for f in db.session.scalars(sa.select(IssuedFile).where(IssuedFile.order_id == order.id)):
            data = vault.open_blob(f.data_key_id, f.content_ct)
            lines = data.count(b"\r\n") - 1 if f.format == "csv" else None  # minus the header
            files[f.format] = {"rows": f.rows, "bytes": f.size, "csv_lines": lines}
            del data
        unbalanced = db.session.scalar(sa.select(sa.func.count()).select_from(
            sa.select(Posting.entry_id).group_by(Posting.entry_id).having(sa.func.sum(Posting.amount_fen) != 0)
            .subquery()))
        total = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Posting.amount_fen), 0)))
        out = {"order_status": order.status, "codes_delivered": codes[0], "distinct_codes": codes[1],
               "files": files,
               "balance_exact": balance.of(seeded["reseller_id"]) == seeded["opening_fen"] - n * UNIT_FEN,
               "revenue_fen": -ledger.balance("6001"), "ledger_balanced": unbalanced == 0 and total == 0}
        db.session.rollback()
    out["ok"] = (out["order_status"] == "delivered" and codes[0] == codes[1] == n and out["balance_exact"]
                 and out["ledger_balanced"] and out["revenue_fen"] == n * UNIT_FEN
                 and set(files) == {"csv", "xlsx"} and all(f["rows"] == n for f in files.values())
                 and files["csv"]["csv_lines"] == n)
    return out


# --- the baselines -------------------------------------------------------------------------------------------

def baselines(app, raw_sku_id: int, order_no: str, n: int) -> dict:
    """The bare claim of n rows, then reading, decrypting and writing them as CSV, then as XLSX. The rows are
    claimed for the app's order (its id in codes.order_id, checked by the foreign key as the app's are)."""
    import xlsxwriter
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from app.core import vault
    from app.extensions import db

    with app.app_context():
        order_id = db.session.scalar(sa.text("SELECT id FROM orders WHERE order_no = :n"), {"n": order_no})
        statement, params = capture_claim(raw_sku_id, order_id)
        key_id = db.session.scalar(sa.text("SELECT data_key_id FROM codes WHERE sku_id = :s LIMIT 1"),
                                   {"s": raw_sku_id})
        aead, aad = AESGCM(vault._key_bytes(key_id)), f"quanyi:{key_id}".encode()
        db.session.rollback()
        sqlite = db.engine.dialect.name == "sqlite"
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            t0 = time.perf_counter()
            if sqlite:
                cur.execute("BEGIN IMMEDIATE")
            cur.execute(statement, with_limit(params, n))
            claimed = cur.rowcount
            raw.commit() if not sqlite else cur.execute("COMMIT")
            claim_s = time.perf_counter() - t0
            select = ("SELECT data_key_id, code_ct, secret_ct, expires_at FROM codes WHERE order_id = {p} "
                      "AND sku_id = {p} AND status = 'reserved' ORDER BY id").format(p="?" if sqlite else "%s")

            def rows():
                read = raw.cursor() if sqlite else raw.driver_connection.cursor(name="bench_rows")
                read.execute(select, (order_id, raw_sku_id))
                while chunk := read.fetchmany(CHUNK):
                    for _, code_ct, secret_ct, expires_at in chunk:
                        yield (aead.decrypt(code_ct[:12], code_ct[12:], aad).decode(),
                               aead.decrypt(secret_ct[:12], secret_ct[12:], aad).decode() if secret_ct else "",
                               expires_at)
                read.close()

            t0 = time.perf_counter()
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\r\n")
            w.writerow(("code", "secret", "expires_at"))
            written = 0
            for code, secret, expires_at in rows():
                w.writerow((code, secret, expires_at or ""))
                written += 1
            csv_bytes = len(buf.getvalue().encode("utf-8"))
            del buf
            csv_s = time.perf_counter() - t0
            if not sqlite:
                raw.commit()  # the named cursor's transaction
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                out = io.BytesIO()
                book = xlsxwriter.Workbook(out, {"constant_memory": True, "tmpdir": tmp, "strings_to_numbers": False,
                                                 "strings_to_formulas": False, "strings_to_urls": False})
                sheet = book.add_worksheet("codes")
                sheet.write_row(0, 0, ("code", "secret", "expires_at"))
                for i, (code, secret, _) in enumerate(rows(), 1):
                    sheet.write_string(i, 0, code)
                    if secret:
                        sheet.write_string(i, 1, secret)
                book.close()
            xlsx_s = time.perf_counter() - t0
            if not sqlite:
                raw.commit()
        finally:
            raw.close()
    if claimed != n or written != n:
        raise RuntimeError(f"the bare claim took {claimed} rows and wrote {written}, not {n}")
    return {"rows": n, "sql": " ".join(statement.split()),
            "bare_sql_s": round(claim_s, 3),
            "read_decrypt_csv_s": round(csv_s, 3), "csv_bytes": csv_bytes,
            "read_decrypt_xlsx_s": round(xlsx_s, 3),
            "bare_sql_csv_s": round(claim_s + csv_s, 3),
            "bare_sql_csv_xlsx_s": round(claim_s + csv_s + xlsx_s, 3)}


def run(args, url: str, tmp: Path, stack: Stack) -> dict:
    from app.core.vault import new_master_key

    n = args.codes
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": start_redis(stack, tmp),
           "PUBLIC_URL": f"http://127.0.0.1:{port}", "SECRET_KEY": secrets.token_hex(32),
           "QUANYI_MASTER_KEY": os.environ.get("QUANYI_MASTER_KEY") or new_master_key(), "API_RATE_LIMIT": "100000/minute",
           **sandbox_keys()}
    busy = {k: v for k, v in _queue_lengths(env["REDIS_URL"]).items() if v}
    if busy:
        raise RuntimeError(f"the queues of {env['REDIS_URL']} are not empty: {busy}")
    say(f"wiping and rebuilding {sa.engine.make_url(url).render_as_string()}")
    reset_database(url, env)
    load = round(os.getloadavg()[0], 1)  # other work on the machine skews every figure: reported with them
    app = make_app(env)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    say(f"seeding a reseller and 2 × {n} codes")
    seeded = seed(app, n)
    say(f"seeded in {seeded['seed_s']} s; starting gunicorn and the worker")
    stack.start("gunicorn", [sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "4", "-b",
                             f"127.0.0.1:{port}", "--timeout", "600", "wsgi:app"],
                env, env["PUBLIC_URL"] + "/login")
    worker = start_worker(stack, env, env["REDIS_URL"])
    server = next(p for name, p in stack.procs if name == "gunicorn")
    peaks = {"worker": PeakRss(worker.pid), "server": PeakRss(server.pid)}
    for sampler in peaks.values():
        sampler.start()

    say(f"POST /api/v1/orders quantity={n}")
    t_start = time.perf_counter()
    resp, post_s = post_order(env["PUBLIC_URL"], seeded, n)
    if resp.status_code != 201:
        raise RuntimeError(f"POST /api/v1/orders answered {resp.status_code}: {resp.text[:500]}")
    answer = resp.json()
    t_posted = t_start + post_s
    marks = watch_issuance(url, answer["order_no"], worker, args.timeout)
    total_s = marks["done"] - t_start
    time.sleep(0.2)  # the horse's exit
    peak = {name: sampler.stop() for name, sampler in peaks.items()}
    stack.stop("worker")
    stack.stop("gunicorn")
    say(f"done in {total_s:.1f} s; checking, then the bare-SQL baselines")
    state = check(app, seeded, answer["order_no"], n)
    base = baselines(app, seeded["raw_sku_id"], answer["order_no"], n)
    with app.app_context():
        from app.extensions import db

        dialect = db.engine.dialect.name
        db.engine.dispose()
    mb = 1024 * 1024
    phases = {"post": post_s, "queue": marks["leased"] - t_posted, "issue": marks["files"] - marks["leased"],
              "files": marks["done"] - marks["files"]}
    return {
        "codes": n, "database": dialect,
        "answer": {"status": resp.status_code, "order_status": answer.get("status")},
        "phases_s": {k: round(v, 3) for k, v in phases.items()},
        "total_s": round(total_s, 3),
        "peak_rss_mb": {"work_horse": round(peak["worker"]["children"] / mb, 1),
                        "worker": round(peak["worker"]["parent"] / mb, 1),
                        "api_server_worker": round(peak["server"]["children"] / mb, 1),
                        "bench_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)},
        "baseline": base,
        "ratio": {"vs_bare_sql": round(total_s / base["bare_sql_s"], 1),
                  "vs_bare_sql_csv": round(total_s / base["bare_sql_csv_s"], 1),
                  "vs_bare_sql_csv_xlsx": round(total_s / base["bare_sql_csv_xlsx_s"], 1)},
        "targets": {"total_le_30s": total_s <= 30, "le_3x_bare_sql": total_s <= 3 * base["bare_sql_s"],
                    "rss_lt_500mb": max(peak["worker"]["children"], peak["worker"]["parent"],
                                            peak["server"]["children"]) < 500 * mb},
        "check": state,
        "seed_s": seeded["seed_s"],
        "setup": {"load_avg_1m_at_start": load, "cores": os.cpu_count(), "server": "gunicorn -w 1 --threads 4",
                  "issuance_batch": int(os.environ.get("ISSUANCE_BATCH", 5000)),
                  "worker": "flask --app wsgi worker --no-cron (forking RQ "
                  "worker, started and idle before the POST)",
                  "redis": "REDIS_URL" if os.environ.get("REDIS_URL") else "private redis-server",
                  "logs": str(stack.logs)},
    }


def _queue_lengths(redis_url: str) -> dict[str, int]:
    from rq import Queue

    from app.queues import QUEUES

    conn = redis.Redis.from_url(redis_url)
    return {name: len(Queue(name, connection=conn)) for name in QUEUES}


def bench_main(name: str, args, run, example_db: str, required) -> None:
    """Refuse a DATABASE_URL this run may not wipe; run `run(args, url, tmp, stack)`; stop whatever it started;
    print its report as one JSON line; exit 0 only when nothing in it fails (bench/verdict.py): `required`
    names the figures it must print, or is a function of the report giving them."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgresql://", "postgresql+psycopg://", "sqlite:////")):
        print(f"bench/{name}.py: DATABASE_URL must name a PostgreSQL database this run may wipe (e.g. "
              f"postgresql+psycopg://postgres@127.0.0.1/{example_db}) or an absolute SQLite path "
              f"(sqlite:////tmp/{name}.db); refusing to run.", file=sys.stderr)
        sys.exit(2)
    tmp = Path(tempfile.mkdtemp(prefix=f"quanyi-bench-{name}-"))
    os.environ["QUANYI_INSTANCE"] = str(tmp / "instance")  # read when `app` is first imported
    stack = Stack(tmp, ROOT / "bench" / "results" / time.strftime(f"{name}-%Y%m%d-%H%M%S"))  # gitignored
    stack.logs.mkdir(parents=True, exist_ok=True)
    try:
        report = run(args, url, tmp, stack)
    finally:
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)
    verdict.finish(name, report, required(report) if callable(required) else required)


#: The figures bulk_issue must print.
REQUIRED = ("total_s", "phases_s.post", "phases_s.queue", "phases_s.issue", "phases_s.files",
            "peak_rss_mb.work_horse", "peak_rss_mb.worker", "peak_rss_mb.api_server_worker",
            "baseline.bare_sql_s", "baseline.bare_sql_csv_s", "baseline.bare_sql_csv_xlsx_s",
            "ratio.vs_bare_sql", "ratio.vs_bare_sql_csv", "ratio.vs_bare_sql_csv_xlsx", "check.ok")


if __name__ == "__main__":
    bench_main("bulk_issue", parse_args(), run, "quanyi_bench_b", REQUIRED)
