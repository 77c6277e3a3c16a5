"""A flash sale's rush over HTTP, against the bare Redis + SQL reservation; prints one JSON object.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/quanyi_bench_flash .venv/bin/python bench/flash_sale.py \
        [--buyers 5000] [--quota 1000] [--limit 2] [--tabs-every 10] [--clients 32] [--workers 4] [--threads 4]

The database named by DATABASE_URL is WIPED (schema public dropped and rebuilt by the migrations). Redis is a
private redis-server (or REDIS_URL). gunicorn is started here on a loopback port and stopped again.

`--buyers` consumers, already signed in (their session cookies are signed here exactly as a sign-in makes them,
as tests/support/factories.log_in does: logging 5,000 buyers in through argon2 would take minutes and is not
what is measured), rush a live sale of `--quota` units with a limit of `--limit` per person: each POSTs the sale
page's buy form once (`/me/shop/<sku>/buy` with `flash_sale=<id>`), and every `--tabs-every`-th buyer three
times, as from three tabs, spread so the tabs race each other. `--clients` driver threads send the POSTs. An
answer redirecting to the payment is an accepted order; one back to the sale's page a refusal (sold out, limit
reached). Afterwards the database decides: `oversold` (units or orders beyond the quota) and `over_limit`
(buyers holding more than the limit) must both be 0, every accepted order holds one unit and the quota is sold
out (there are more presses than units).

The bare baseline, in the same run: the same attempts on a second sale, each the gate's own Lua script
(flash_gate.TAKE, the module's text) and the app's INSERT of the unit row, captured from one real checkout (not
retyped), with psycopg in its own transaction per unit, from `--clients` threads. throughput_vs_bare is
accepted orders/s of the app over units/s of the bare reservation (the issue's target is >= 0.5).

CPU per accepted order: gunicorn (master, workers) and the Redis server if this run started it, over the rush,
refused presses included; PostgreSQL not counted.

Exit 0 only if nothing in the report fails (bench/verdict.py): the checks, no error counted, `oversold` and
`over_limit` both 0, and every figure in REQUIRED.
"""

import argparse
import logging
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/flash_sale.py`
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench import cpu, verdict  # noqa: E402
from bench.checkout import (  # noqa: E402
    Stack,
    add_sku,
    create_buyers,
    ensure_database,
    free_port,
    make_app,
    p95_ms,
    redis_server_pid,
    reset_schema,
    route_times,
    sandbox_keys,
    stock_codes,
)
from bench.fulfilment import start_redis  # noqa: E402

SALE_PRICE_FEN = 990
REQUIRED = ("accepted_orders_per_s", "p95_ms_accepted", "p95_ms_all", "bare.units_per_s", "throughput_vs_bare",
            "cpu_ms_per_accepted_order.app", "cpu_ms_per_accepted_order.gunicorn", "oversold", "over_limit",
            "check.ok", "bare.ok")


def say(message: str) -> None:
    print(f"bench/flash_sale.py: {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/flash_sale.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--buyers", type=int, default=5000, help="signed-in buyers, default 5000")
    p.add_argument("--quota", type=int, default=1000, help="units of the sale, default 1000")
    p.add_argument("--limit", type=int, default=2, help="units per person, default 2")
    p.add_argument("--tabs-every", type=int, default=10, help="every N-th buyer presses from 3 tabs, default 10")
    p.add_argument("--clients", type=int, default=32, help="driver threads (and bare threads), default 32")
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers, default 4")
    p.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker, default 4")
    p.add_argument("--timeout", type=float, default=300, help="seconds the rush may take, default 300")
    args = p.parse_args(argv)
    if min(args.buyers, args.quota, args.limit, args.tabs_every, args.clients) < 1:
        p.error("every count must be at least 1")
    return args


def presses(buyer_ids: list[int], tabs_every: int, spread: int) -> list[int]:
    """One press per buyer; every `tabs_every`-th presses twice more, `spread` places later (other threads)."""
    out = list(buyer_ids)
    for i, b in reversed(list(enumerate(buyer_ids))[::tabs_every]):
        for k in (2, 1):
            out.insert(min(len(out), i + k * spread), b)
    return out


# --- setup ---------------------------------------------------------------------------------------------------

def seed(app, args, tmp: Path) -> dict:
    """Buyers, the SKU of the sale with a code per unit, the sale, and a second sale for the bare run."""
    from app.accounts.models import User
    from app.core.ids import utcnow
    from app.extensions import db
    from app.marketing import flash_setup
    from app.marketing.models import Campaign

    with app.app_context():
        emails = [e for e, _ in create_buyers(args.buyers)]
        ids = dict(db.session.execute(sa.select(User.email, User.id).where(User.email.in_(emails))).all())
        buyer_ids = [ids[e] for e in emails]
        now = utcnow()
        campaign = Campaign(name="基准 秒杀", status="live", starts_at=now - timedelta(days=1),
                            ends_at=now + timedelta(days=1))
        db.session.add(campaign)
        db.session.commit()
        sales = {}
        for name, code, codes in (("app", "BENCH-FLASH", args.quota), ("bare", "BENCH-FLASH-BARE", 1)):
            sku_id = add_sku(code, f"基准 秒杀 {name}")
            stock_codes(tmp, code, codes)
            sale = flash_setup.create(None, campaign_id=campaign.id, sku_id=sku_id, price_fen=SALE_PRICE_FEN,
                                      quota=args.quota, per_user_limit=args.limit,
                                      starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=2))
            sales[name] = {"sku_id": sku_id, "sale_id": sale.id, "gate_key": sale.gate_key}
    return {"buyer_ids": buyer_ids, **sales}


def sessions(app, buyer_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Per buyer: a session cookie as sign-in makes it (tests/support/factories.log_in) and the CSRF token of
    the sale page's form, both signed with the server's SECRET_KEY."""
    from flask import session
    from flask_wtf.csrf import generate_csrf

    from app.accounts.models import User
    from app.extensions import db

    out = {}
    serializer = app.session_interface.get_signing_serializer(app)
    with app.app_context():
        versions = dict(db.session.execute(sa.select(User.id, User.session_version)
                                           .where(User.id.in_(buyer_ids))).all())
    now = time.time()
    for uid in buyer_ids:
        with app.test_request_context("/"):
            session.update({"_user_id": str(uid), "_fresh": True, "auth_v": versions[uid], "auth_at": now,
                            "seen_at": now, "auth_uid": uid})
            token = generate_csrf()
            out[uid] = (serializer.dumps(dict(session)), token)
    return out


def capture_insert(app, bare: dict, buyer_id: int) -> tuple[str, dict]:
    """The INSERT of a unit row as the app sends it, from one real checkout on the bare sale; then that unit is
    deleted and the sale reloaded into Redis, empty (the order stays: every bare unit points at it)."""
    from app.accounts.models import User
    from app.extensions import db
    from app.marketing import flash, flash_setup
    from app.marketing.flash_gate import gate
    from app.marketing.models import FlashSale

    seen: list[tuple[str, dict]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO FLASH_UNITS"):
            seen.append((statement, parameters))

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            flash.buy(db.session.get(User, buyer_id), bare["sku_id"], 1, promo={"flash_sale": bare["sale_id"]})
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        if len(seen) != 1 or not isinstance(seen[0][1], dict):
            raise RuntimeError(f"checkout did not write one unit row the bench can replay: {seen}")
        statement, params = seen[0]
        missing = {"serial", "buyer_id", "n"} - set(params)
        if missing:
            raise RuntimeError(f"the unit INSERT has no parameter {sorted(missing)}: {statement}")
        db.session.execute(sa.text("DELETE FROM flash_units WHERE sale_id = :s"), {"s": bare["sale_id"]})
        db.session.commit()
        gate().forget(bare["sale_id"], bare["gate_key"])
        flash_setup.remaining(db.session.get(FlashSale, bare["sale_id"]))  # loads the emptied sale
    return statement, params


# --- the rush over HTTP ---------------------------------------------------------------------------------------

class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.answers: Counter = Counter()
        self.accepted_s: list[float] = []
        self.all_s: list[float] = []
        self.errors: list[str] = []

    def add(self, kind: str, seconds: float | None = None, error: str = "") -> None:
        with self.lock:
            self.answers[kind] += 1
            if seconds is not None:
                self.all_s.append(seconds)
                if kind == "accepted":
                    self.accepted_s.append(seconds)
            if error and len(self.errors) < 20:
                self.errors.append(error)


def pool(threads: int, items: list, work, timeout: float) -> float:
    """`threads` threads take the items in turn (work(thread index, item)), all starting together; the wall
    time from the start until the last one is done."""
    it, lock = iter(items), threading.Lock()
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def loop(i: int) -> None:
        start.wait()
        while time.time() < deadline[0]:
            with lock:
                item = next(it, None)
            if item is None:
                return
            work(i, item)

    runners = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for t in runners:
        t.start()
    deadline[0] = time.time() + timeout
    start.wait()
    t0 = time.perf_counter()
    for t in runners:
        t.join(max(0.1, deadline[0] - time.time() + 30))
    return time.perf_counter() - t0


def rush(base: str, cookie_name: str, logins: dict, order: list[int], sale: dict, args) -> tuple[Tally, float]:
    tally = Tally()
    # No keep-alive, as bench/buyers.py: a request sent on a connection gunicorn is closing would be reset.
    clients = [httpx.Client(base_url=base, timeout=60, limits=httpx.Limits(max_keepalive_connections=0))
               for _ in range(args.clients)]
    path, back = f"/me/shop/{sale['sku_id']}/buy", f"/me/flash/{sale['sale_id']}"

    def press(i: int, buyer_id: int) -> None:
        cookie, token = logins[buyer_id]
        client = clients[i]
        client.cookies = httpx.Cookies({cookie_name: cookie})
        t0 = time.perf_counter()
        try:
            resp = client.post(path, data={"csrf_token": token, "flash_sale": str(sale["sale_id"]), "quantity": "1"})
        except httpx.HTTPError as e:
            tally.add("error", error=f"{buyer_id}: {e.__class__.__name__}: {e}")
            return
        seconds = time.perf_counter() - t0
        where = urlsplit(resp.headers.get("location", "")).path
        if resp.status_code == 303 and where.startswith("/me/orders/") and where.endswith("/pay"):
            tally.add("accepted", seconds)
        elif resp.status_code == 303 and where == back:
            tally.add("refused", seconds)
        else:
            tally.add("error", seconds, f"{buyer_id}: HTTP {resp.status_code} → {where or resp.text[:200]}")

    try:
        wall = pool(args.clients, order, press, args.timeout)
    finally:
        for c in clients:
            c.close()
    return tally, wall


# --- the bare reservation -------------------------------------------------------------------------------------

def bare_run(redis_url: str, dsn: str, statement: str, params: dict, bare: dict, order: list[int], args) -> dict:
    """The same presses on the bare sale: the gate's Lua script, then the captured INSERT, one transaction each."""
    from app.marketing.flash_gate import TAKE, keys

    r = redis.Redis.from_url(redis_url)
    take = r.register_script(TAKE)
    sale_keys = keys(bare["sale_id"], bare["gate_key"])
    tally = Tally()
    conns = [psycopg.connect(dsn) for _ in range(args.clients)]
    cpu0 = time.process_time()

    def press(i: int, buyer_id: int) -> None:
        t0 = time.perf_counter()
        try:
            answer = take(keys=sale_keys, args=[buyer_id, int(time.time())])
            status = answer[0].decode()
            if status != "OK":
                tally.add("refused" if status in ("SOLD_OUT", "LIMIT") else "error", time.perf_counter() - t0,
                          "" if status in ("SOLD_OUT", "LIMIT") else f"{buyer_id}: gate said {status}")
                return
            values = {**params, "serial": int(answer[1]), "buyer_id": buyer_id, "n": int(answer[2])}
            with conns[i].transaction():
                conns[i].execute(statement, values)
            tally.add("accepted", time.perf_counter() - t0)
        except Exception as e:  # reported, never hidden
            tally.add("error", time.perf_counter() - t0, f"{buyer_id}: {e.__class__.__name__}: {e}")

    try:
        wall = pool(args.clients, order, press, args.timeout)
    finally:
        for c in conns:
            c.close()
    accepted = tally.answers["accepted"]
    return {"presses": len(order), "threads": args.clients, "accepted": accepted,
            "refused": tally.answers["refused"], "wall_s": round(wall, 3),
            "units_per_s": round(accepted / wall, 1) if wall and accepted else None,
            "p95_ms": p95_ms(tally.accepted_s), "cpu_ms_per_unit_driver": round(1000 * (time.process_time() - cpu0)
                                                                               / accepted, 2) if accepted else None,
            "sql": " ".join(statement.split()), "script": "app.marketing.flash_gate.TAKE",
            "errors": {"count": tally.answers["error"], "first": tally.errors[:5]}}


# --- what the database says -----------------------------------------------------------------------------------

def check(app, sale: dict, quota: int, limit: int) -> dict:
    from app.extensions import db

    q = lambda sql, **kw: db.session.execute(sa.text(sql), kw).scalar()  # noqa: E731
    with app.app_context():
        units = q("SELECT count(*) FROM flash_units WHERE sale_id = :s", s=sale["sale_id"])
        serials = q("SELECT count(DISTINCT serial) FROM flash_units WHERE sale_id = :s", s=sale["sale_id"])
        orders = q("SELECT count(*) FROM orders WHERE sku_id = :k", k=sale["sku_id"])
        over = q("""SELECT count(*) FROM (SELECT buyer_id FROM flash_units WHERE sale_id = :s GROUP BY buyer_id
                    HAVING count(*) > :l) b""", s=sale["sale_id"], l=limit)
        most = q("""SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM flash_units WHERE sale_id = :s
                    GROUP BY buyer_id) b""", s=sale["sale_id"])
        db.session.rollback()
    return {"units": units, "distinct_serials": serials, "orders": orders, "over_limit": over,
            "most_units_per_buyer": most, "oversold": max(0, units - quota, serials - quota)}


def run(args, url: str, tmp: Path, stack: Stack) -> dict:
    from app.core.vault import new_master_key

    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": start_redis(stack, tmp),
           "PUBLIC_URL": f"http://127.0.0.1:{port}", **sandbox_keys(), "SECRET_KEY": secrets.token_hex(32),
           "QUANYI_MASTER_KEY": new_master_key()}
    ensure_database(url)
    reset_schema(url, env)
    app = make_app(env)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the report
    say(f"seeding {args.buyers} buyers and two sales of {args.quota} units")
    seeded = seed(app, args, tmp)
    logins = sessions(app, seeded["buyer_ids"])
    order = presses(seeded["buyer_ids"], args.tabs_every, args.clients)
    statement, params = capture_insert(app, seeded["bare"], seeded["buyer_ids"][0])
    load = round(os.getloadavg()[0], 1)

    stack.start("gunicorn", [sys.executable, "-m", "gunicorn", "-w", str(args.workers), "--threads",
                             str(args.threads), "-b", f"127.0.0.1:{port}", "--timeout", "60",
                             "--access-logfile", str(stack.logs / "access.log"),
                             "--access-logformat", '%(m)s %(U)s %(s)s %(D)s', "wsgi:app"],
                env, env["PUBLIC_URL"] + "/login", timeout=180)  # four workers importing the app on a busy machine
    redis_pid = None if os.environ.get("REDIS_URL") else redis_server_pid(env["REDIS_URL"])

    def readings() -> dict:
        out = {"gunicorn": stack.cpu_seconds("gunicorn")}
        if redis_pid is not None:
            out["redis"] = cpu.tree_seconds(redis_pid)
        return out

    say(f"{len(order)} presses from {args.buyers} buyers on {args.clients} threads")
    before = readings()
    tally, wall = rush(env["PUBLIC_URL"], app.config["SESSION_COOKIE_NAME"], logins, order, seeded["app"], args)
    after = readings()
    stack.stop("gunicorn")
    say("the bare reservation: the same presses, Lua script + INSERT")
    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    bare = bare_run(env["REDIS_URL"], dsn, statement, params, seeded["bare"], order, args)
    app_db = check(app, seeded["app"], args.quota, args.limit)
    bare_db = check(app, seeded["bare"], args.quota, args.limit)
    with app.app_context():
        from app.extensions import db

        db.engine.dispose()

    accepted = tally.answers["accepted"]
    per_s = round(accepted / wall, 2) if wall and accepted else None
    parts = ("gunicorn", "redis") if redis_pid is not None else ("gunicorn",)
    per = {n: cpu.delta_ms_per(after.get(n), before.get(n), accepted) for n in parts}
    bare["oversold"], bare["over_limit"] = bare_db["oversold"], bare_db["over_limit"]
    bare["ok"] = (bare_db["units"] == bare["accepted"] == args.quota and bare_db["oversold"] == 0
                  and bare_db["over_limit"] == 0)
    sold_out = min(args.quota, sum(min(n, args.limit) for n in Counter(order).values()))
    ok = (app_db["oversold"] == 0 and app_db["over_limit"] == 0 and accepted == app_db["units"] == app_db["orders"]
          == sold_out and tally.answers["refused"] == len(order) - accepted)
    return {
        "buyers": args.buyers, "quota": args.quota, "limit": args.limit, "presses": len(order),
        "accepted_orders": accepted, "refused": tally.answers["refused"],
        "accepted_orders_per_s": per_s, "wall_s": round(wall, 3),
        "p95_ms_accepted": p95_ms(tally.accepted_s), "p95_ms_all": p95_ms(tally.all_s),
        "p50_ms_all": round(sorted(tally.all_s)[len(tally.all_s) // 2] * 1000, 1) if tally.all_s else None,
        "oversold": app_db["oversold"], "over_limit": app_db["over_limit"],
        "check": {"ok": ok, **app_db, "sold_out": app_db["units"] == sold_out},
        "bare": bare,
        "throughput_vs_bare": round(per_s / bare["units_per_s"], 4) if per_s and bare["units_per_s"] else None,
        "cpu_ms_per_accepted_order": {"app": round(sum(per.values()), 2) if None not in per.values() else None,
                                      **per, "note": "over the rush, refused presses included; PostgreSQL not "
                                                     "counted"},
        "server_time_by_route": route_times(stack.logs / "access.log"),
        "errors": {"count": tally.answers["error"], "first": tally.errors[:5], "server_logs": str(stack.logs)},
        "setup": {"gunicorn": f"-w {args.workers} --threads {args.threads}", "database": "postgresql",
                  "redis": "REDIS_URL" if os.environ.get("REDIS_URL") else "private redis-server",
                  "load_avg_1m_at_start": load, "load_avg_1m_at_end": round(os.getloadavg()[0], 1),
                  "cores": os.cpu_count(),
                  "buyers": f"signed in beforehand (session cookies signed here); every {args.tabs_every}th "
                            "presses from 3 tabs",
                  "press": "POST /me/shop/<sku>/buy with flash_sale=<id> (the sale page's form), redirect not "
                           "followed"},
    }


def main() -> None:
    args = parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgresql://", "postgresql+psycopg://")):
        print("bench/flash_sale.py: DATABASE_URL must name a PostgreSQL database this run may wipe "
              "(e.g. postgresql+psycopg://postgres@127.0.0.1/quanyi_bench_flash); refusing to run.", file=sys.stderr)
        sys.exit(2)
    tmp = Path(tempfile.mkdtemp(prefix="quanyi-bench-flash-"))
    os.environ["QUANYI_INSTANCE"] = str(tmp / "instance")
    say(f"wiping and rebuilding {sa.engine.make_url(url).render_as_string()}")
    stack = Stack(tmp, ROOT / "bench" / "results" / time.strftime("flash_sale-%Y%m%d-%H%M%S"))  # gitignored
    try:
        report = run(args, url, tmp, stack)
    finally:
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)
    verdict.finish("flash_sale", report, REQUIRED)


if __name__ == "__main__":
    main()
