"""Signed single-code orders per second through the reseller API at 32 concurrent clients; prints one JSON object.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/quanyi_bench_api .venv/bin/python bench/api_orders.py \
        [--clients 32] [--attempts 3000] [--stock 2000] [--resellers 8] [--workers 4] [--threads 8]

The database named by DATABASE_URL is WIPED (PostgreSQL: schema public dropped, the database created first
if needed; SQLite, `sqlite:////abs/path.db`: the file deleted) and rebuilt by the migrations. Redis is
REDIS_URL or a private redis-server on a free port. The app runs under gunicorn (`--workers` processes ×
`--threads` threads, API_RATE_LIMIT raised for the run) started here and stopped again, also when the run
fails.

Seeding is not timed: `--resellers` resellers with enough balance, one SKU with `--stock` codes. Then
`--clients` threads (one keep-alive httpx client each) send `--attempts` signed `POST /api/v1/orders` of
quantity 1, each with its own client_order_no, spread round-robin over the resellers (a reseller's orders
are serialised by its balance lock, so one reseller alone measures that lock, not the stack). There are more
attempts than codes: the last ones must be answered 409 INSUFFICIENT_STOCK. Afterwards the database is
checked: as many orders as 201 answers, each delivered with its own code, codes delivered == stock consumed,
no code twice, nothing oversold, every balance exact (opening − orders × price), the ledger balanced.

Baseline in the same run, on a second SKU stocked alike, at the same concurrency (one psycopg connection
per thread): the bare SQL transaction an order needs, one per attempt — lock the reseller row, read its
balance from its postings, claim one code with the app's own claim statement (captured from
`inventory.claim`, not retyped), post the debit and the revenue (two journal entries, four postings), commit.
"""

import argparse
import json
import logging
import os
import secrets
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/api_orders.py`
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench.bulk_issue import bench_main, capture_claim, reset_database, with_limit  # noqa: E402
from bench.checkout import Stack, free_port, make_app, p95_ms, route_times  # noqa: E402
from bench.fulfilment import start_redis  # noqa: E402

SKU, RAW_SKU = "BENCH-API", "BENCH-API-RAW"
PRICE_FEN, DISCOUNT_BP = 2800, 1000
UNIT_FEN = PRICE_FEN * (10000 - DISCOUNT_BP) // 10000


def say(message: str) -> None:
    print(f"bench/api_orders.py: {message}", file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/api_orders.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (threads), default 32")
    p.add_argument("--attempts", type=int, default=3000, help="orders attempted in all, default 3000")
    p.add_argument("--stock", type=int, default=2000, help="codes in stock (fewer than attempts), default 2000")
    p.add_argument("--resellers", type=int, default=8, help="resellers the attempts are spread over, default 8")
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers, default 4")
    p.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker, default 8")
    args = p.parse_args()
    if min(args.clients, args.attempts, args.stock, args.resellers, args.workers, args.threads) < 1:
        p.error("every count must be at least 1")
    if args.stock >= args.attempts:
        p.error("--stock must be smaller than --attempts: the run must sell out")
    return args


def seed(app, args) -> dict:
    from app.accounts import services as accounts
    from app.accounts.models import Role
    from app.catalog import services as catalog
    from app.channels import resellers
    from app.core import vault
    from app.extensions import db
    from app.inventory.models import Code

    with app.app_context():
        tier = resellers.save_tier("基准 API", DISCOUNT_BP, None)
        opening = UNIT_FEN * args.attempts  # enough for every attempt: only stock may run out
        out = {"opening_fen": opening, "resellers": []}
        for i in range(args.resellers):
            reseller, cred, secret = resellers.create(f"基准API代理商 {i}", tier, None, opening_balance_fen=opening)
            accounts.create_user(f"api{i}@bench.example", "bench-pass-1", role=Role.reseller,
                                 organization=reseller.organization)
            out["resellers"].append({"id": reseller.id, "api_key": cred.api_key, "secret": secret})
        sealer = vault.Sealer()
        for code in (SKU, RAW_SKU):
            sku = catalog.add_sku(None, code, name=f"基准测试 {code}", type="card_code", face_value_fen=3000,
                                  price_fen=PRICE_FEN, brand="腾讯视频", category="video")
            out[code] = sku.id
            values = [f"{code}-{i:06d}-{secrets.token_hex(6).upper()}" for i in range(args.stock)]
            db.session.execute(sa.insert(Code), [
                {"sku_id": sku.id, "data_key_id": sealer.key_id, "code_ct": sealer.seal(v), "secret_ct": None,
                 "code_hash": sealer.digest(v), "tail": v[-4:], "status": "available", "max_uses": 1, "uses": 0}
                for v in values])
            db.session.commit()
    return out


def race(base: str, seeded: dict, args) -> dict:
    """`--clients` threads send the signed POSTs; returns the answers and the wall time."""
    from app.channels import signing

    counter = iter(range(args.attempts))
    lock = threading.Lock()
    answers: list[tuple[int, int, str, float]] = []  # (attempt, status, error code or order_no, seconds)
    errors: list[str] = []
    start = threading.Barrier(args.clients + 1)

    def client():
        with httpx.Client(base_url=base, timeout=60) as http:
            start.wait(60)
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                who = seeded["resellers"][i % len(seeded["resellers"])]
                body = json.dumps({"client_order_no": f"API-{i:06d}", "sku": SKU, "quantity": 1}).encode()
                headers = signing.headers(who["api_key"], who["secret"], "POST", "/api/v1/orders", "", body,
                                          int(time.time()), secrets.token_hex(12))
                headers["Content-Type"] = "application/json"
                t0 = time.perf_counter()
                try:
                    resp = http.post("/api/v1/orders", content=body, headers=headers)
                    data = resp.json()
                except (httpx.HTTPError, ValueError) as e:
                    with lock:
                        errors.append(f"{e.__class__.__name__}: {e}")
                    continue
                took = time.perf_counter() - t0
                what = data.get("order_no") if resp.status_code == 201 else data.get("error", {}).get("code", "")
                with lock:
                    answers.append((i, resp.status_code, what, took))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(args.clients)]
    for t in threads:
        t.start()
    start.wait(60)
    t0 = time.perf_counter()
    for t in threads:
        t.join(600)
    return {"answers": answers, "errors": errors, "wall_s": time.perf_counter() - t0}


def check(app, seeded: dict, answers: list, args) -> dict:
    from app.channels import balance
    from app.extensions import db
    from app.inventory.models import Code
    from app.ledger.models import Posting
    from app.orders.models import Order

    created = {no for _, status, no, _ in answers if status == 201}
    with app.app_context():
        orders = db.session.execute(sa.select(Order.id, Order.order_no, Order.status, Order.reseller_id)
                                    .where(Order.sku_id == seeded[SKU])).all()
        codes = db.session.execute(sa.select(Code.id, Code.code_hash, Code.order_id, Code.status)
                                   .where(Code.sku_id == seeded[SKU])).all()
        delivered = [c for c in codes if c.status == "delivered"]
        consumed = sum(1 for c in codes if c.status != "available")
        per_reseller = {}
        for r in seeded["resellers"]:
            n = sum(1 for o in orders if o.reseller_id == r["id"])
            per_reseller[r["id"]] = balance.of(r["id"]) == seeded["opening_fen"] - n * UNIT_FEN
        unbalanced = db.session.scalar(sa.select(sa.func.count()).select_from(
            sa.select(Posting.entry_id).group_by(Posting.entry_id).having(sa.func.sum(Posting.amount_fen) != 0)
            .subquery()))
        total = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Posting.amount_fen), 0)))
        db.session.rollback()
    out = {"orders": len(orders), "orders_delivered": sum(1 for o in orders if o.status == "delivered"),
           "answered_201": len(created), "codes_delivered": len(delivered), "stock_consumed": consumed,
           "distinct_codes": len({c.code_hash for c in delivered}),
           "codes_on_distinct_orders": len({c.order_id for c in delivered}),
           "oversold": max(0, len(delivered) - args.stock, len(orders) - args.stock),
           "balances_exact": all(per_reseller.values()), "ledger_balanced": unbalanced == 0 and total == 0}
    out["ok"] = (out["orders"] == out["orders_delivered"] == out["answered_201"] == out["codes_delivered"]
                 == out["stock_consumed"] == out["distinct_codes"] == out["codes_on_distinct_orders"] == args.stock
                 and {o.order_no for o in orders} == created and out["oversold"] == 0
                 and out["balances_exact"] and out["ledger_balanced"])
    return out


# --- the baseline --------------------------------------------------------------------------------------------

def bare_run(app, seeded: dict, dsn: str, args) -> dict:
    """One bare transaction per attempt at the same concurrency: lock, balance, claim one code, post twice."""
    import psycopg

    from app.channels import balance
    from app.core.ids import utcnow
    from app.extensions import db
    from app.ledger.models import LedgerAccount

    with app.app_context():
        statement, params = capture_claim(seeded[RAW_SKU])
        accounts = dict(db.session.execute(sa.select(LedgerAccount.code, LedgerAccount.id)).all())
        db.session.rollback()
    if db_dialect(app) != "postgresql":
        return {"skipped": "the bare-SQL baseline runs on PostgreSQL only (psycopg)"}
    who = [(r["id"], accounts[balance.account_code(r["id"])]) for r in seeded["resellers"]]
    a2203, a6001 = accounts["2203"], accounts["6001"]
    counter = iter(range(args.attempts))
    lock = threading.Lock()
    counts = {"claimed": 0, "refused": 0, "errors": []}
    start = threading.Barrier(args.clients + 1)
    entry = ("INSERT INTO journal_entries (kind, memo, idempotency_key, ref_type, ref_id, created_at) "
             "VALUES (%s, %s, %s, 'bench', %s, %s) RETURNING id")
    posting = "INSERT INTO postings (entry_id, account_id, amount_fen) VALUES (%s, %s, %s), (%s, %s, %s)"

    def worker():
        claimed = refused = 0
        try:
            with psycopg.connect(dsn) as conn:
                start.wait(60)
                while (i := take()) is not None:
                    reseller_id, account = who[i % len(who)]
                    with conn.transaction():
                        now = utcnow()
                        conn.execute("SELECT id FROM resellers WHERE id = %s FOR UPDATE", (reseller_id,))
                        have = -conn.execute("SELECT coalesce(sum(amount_fen), 0) FROM postings "
                                             "WHERE account_id = %s", (account,)).fetchone()[0]
                        if have < UNIT_FEN or conn.execute(statement, with_limit(params, 1)).rowcount != 1:
                            refused += 1
                            raise psycopg.Rollback()  # ends this transaction only
                        e1 = conn.execute(entry, ("bench_order", f"B{i}", f"bench:{i}:paid", i, now)).fetchone()[0]
                        conn.execute(posting, (e1, account, UNIT_FEN, e1, a2203, -UNIT_FEN))
                        e2 = conn.execute(entry, ("bench_revenue", f"B{i}", f"bench:{i}:issued", i, now)).fetchone()[0]
                        conn.execute(posting, (e2, a2203, UNIT_FEN, e2, a6001, -UNIT_FEN))
                        claimed += 1
        except Exception as e:  # reported, never hidden
            with lock:
                counts["errors"].append(f"{e.__class__.__name__}: {e}")
            start.abort()
        with lock:
            counts["claimed"] += claimed
            counts["refused"] += refused

    def take() -> int | None:
        with lock:
            return next(counter, None)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.clients)]
    for t in threads:
        t.start()
    try:
        start.wait(60)
    except threading.BrokenBarrierError:
        pass
    t0 = time.perf_counter()
    for t in threads:
        t.join(600)
    wall = time.perf_counter() - t0
    return {**counts, "attempts": args.attempts, "threads": args.clients, "wall_s": round(wall, 3),
            "orders_per_s": round(counts["claimed"] / wall, 1), "attempts_per_s": round(args.attempts / wall, 1),
            "claim_sql": " ".join(statement.split())}


def db_dialect(app) -> str:
    from app.extensions import db

    with app.app_context():
        return db.engine.dialect.name


def run(args, url: str, tmp: Path, stack: Stack) -> dict:
    from app.core.vault import new_master_key

    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": start_redis(stack, tmp),
           "PUBLIC_URL": f"http://127.0.0.1:{port}", "SECRET_KEY": secrets.token_hex(32),
           "QUANYI_MASTER_KEY": os.environ.get("QUANYI_MASTER_KEY") or new_master_key(),
           "API_RATE_LIMIT": "10000000/minute"}
    say(f"wiping and rebuilding {sa.engine.make_url(url).render_as_string()}")
    reset_database(url, env)
    load = round(os.getloadavg()[0], 1)  # other work on the machine skews every figure: reported with them
    app = make_app(env)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the report
    seeded = seed(app, args)
    stack.start("gunicorn", [sys.executable, "-m", "gunicorn", "-w", str(args.workers), "--threads",
                             str(args.threads), "-b", f"127.0.0.1:{port}", "--timeout", "120",
                             "--access-logfile", str(stack.logs / "access.log"),
                             "--access-logformat", '%(m)s %(U)s %(s)s %(D)s', "wsgi:app"],
                env, env["PUBLIC_URL"] + "/login")
    say(f"{args.clients} clients, {args.attempts} signed orders for {args.stock} codes")
    cpu_before, client_before = stack.cpu_seconds("gunicorn"), time.process_time()
    result = race(env["PUBLIC_URL"], seeded, args)
    cpu = {"gunicorn": _delta(stack.cpu_seconds("gunicorn"), cpu_before),
           "clients (this process)": round(time.process_time() - client_before, 1), "cores": os.cpu_count(),
           "note": "PostgreSQL not counted"}
    stack.stop("gunicorn")
    answers = result["answers"]
    state = check(app, seeded, answers, args)
    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False) \
        if not url.startswith("sqlite") else ""
    say("the bare-SQL baseline")
    bare = bare_run(app, seeded, dsn, args)
    with app.app_context():
        from app.extensions import db

        dialect = db.engine.dialect.name
        db.engine.dispose()
    by_status: dict[str, int] = {}
    for _, status, what, _ in answers:
        key = str(status) if status == 201 else f"{status} {what}"
        by_status[key] = by_status.get(key, 0) + 1
    created = [took for _, status, _, took in answers if status == 201]
    wall = result["wall_s"]
    orders_per_s = round(len(created) / wall, 1) if wall else None
    return {
        "clients": args.clients, "attempts": args.attempts, "stock": args.stock, "resellers": args.resellers,
        "database": dialect, "answers": by_status,
        "orders_per_s": orders_per_s, "attempts_per_s": round(len(answers) / wall, 1) if wall else None,
        "wall_s": round(wall, 3),
        "p50_ms_201": round(sorted(created)[len(created) // 2] * 1000, 1) if created else None,
        "p95_ms_201": p95_ms(created),
        "check": state,
        "bare_sql": bare,
        "ratio": round(bare["orders_per_s"] / orders_per_s, 1) if orders_per_s and "orders_per_s" in bare else None,
        "cpu_s_during_race": cpu,
        "server_time_by_route": route_times(stack.logs / "access.log"),
        "errors": {"count": len(result["errors"]), "first": result["errors"][:5], "server_logs": str(stack.logs)},
        "setup": {"load_avg_1m_at_start": load, "cores": os.cpu_count(),
                  "server": f"gunicorn -w {args.workers} --threads {args.threads} (gthread workers)",
                  "clients": "one keep-alive httpx.Client per client thread; every request signed afresh "
                             "(new nonce)", "rate_limit": env["API_RATE_LIMIT"],
                  "redis": "REDIS_URL" if os.environ.get("REDIS_URL") else "private redis-server"},
    }


def _delta(after: float | None, before: float | None) -> float | None:
    return round(after - before, 1) if after is not None and before is not None else None


if __name__ == "__main__":
    bench_main("api_orders", parse_args(), run, "quanyi_bench_api")
