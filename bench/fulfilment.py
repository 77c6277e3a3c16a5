"""Direct top-ups per second through the RQ worker, against the same supplier calls from a bare loop.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/quanyi_bench_f .venv/bin/python bench/fulfilment.py \
        [--orders 1000] [--workers 4] [--latency-ms 50] [--no-simple-worker]

The database named by DATABASE_URL is WIPED (schema public dropped and rebuilt by the migrations; created
first if it does not exist). Redis is a private redis-server on a free port unless REDIS_URL is set (then
its queues must be empty). The sandbox supplier is started here with `--latency-ms` and no other fault, so
every top-up is answered SUCCESS at once; everything started is stopped again, also when the run fails.

Part A: N paid one-unit top-up orders are made through the services (create_retail_order, a signed payment
notice → fulfilment.start, which enqueues one `jobs.fulfilment.deliver` per unit on the `fulfilment` queue
after commit); seeding is not timed. Then W `flask --app wsgi worker --burst --no-cron` processes start
and the clock runs until every delivery row is final. The sandbox's record of top-ups is checked: each
delivery topped up exactly once, to its account. Unless --no-simple-worker, the same is done again with a
fresh batch and RQ's SimpleWorker (`quanyi worker --no-fork`: the same worker without the per-job fork).

Part B: the same number of top-ups through `SignedJsonAdapter.topup` in a bare loop, once on 1 thread and
once on W threads, against the same sandbox.

Exit 0 only if nothing in the report fails (bench/verdict.py, bench/README.md): each batch's check (all
delivered, exactly once, workers exited 0), each bare loop's, no failed job, and every figure it must print
(required() below).
"""

import argparse
import base64
import logging
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/fulfilment.py`
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench import fulfil_support as support  # noqa: E402
from bench import verdict  # noqa: E402
from bench.checkout import Stack, free_port, reset_schema, tail  # noqa: E402

PARTNER, SUPPLIER_CODE = "quanyi", "bench-sandbox"
#: First account number of each batch (accounts are 139 + 8 digits), so no two batches share one.
ACCOUNT_BASE = {"rq": 0, "simple": 10_000_000, "bare_1": 20_000_000, "bare_w": 30_000_000}
WORKER_ARGV = {
    "rq": ["-m", "flask", "--app", "wsgi", "worker", "--burst", "--no-cron"],
    "simple": ["-m", "flask", "--app", "wsgi", "worker", "--burst", "--no-cron", "--no-fork"],
}


def say(message: str) -> None:
    print(f"bench/fulfilment.py: {message}", file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/fulfilment.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", type=int, default=1000, help="paid top-up orders (one unit each), default 1000")
    p.add_argument("--workers", type=int, default=4, help="RQ worker processes, and bare-loop threads, default 4")
    p.add_argument("--latency-ms", type=float, default=50, help="sandbox supplier latency per call, default 50")
    p.add_argument("--bare-calls", type=int, help="top-ups per bare loop (default: --orders)")
    p.add_argument("--simple-worker", action=argparse.BooleanOptionalAction, default=True,
                   help="also run a batch on RQ's SimpleWorker (no fork per job); default on")
    p.add_argument("--timeout", type=float, default=900, help="seconds a worker batch may take, default 900")
    args = p.parse_args()
    if args.orders < 1 or args.workers < 1 or args.orders >= 10_000_000:
        p.error("--orders must be 1..9999999 and --workers at least 1")
    args.bare_calls = args.bare_calls or args.orders
    return args


def refuse(message: str) -> None:
    say(message)
    sys.exit(2)


def ensure_database(url: str) -> None:
    """Create the database if it does not exist (connecting to `postgres` on the same server)."""
    target = sa.engine.make_url(url)
    engine = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"),
                            {"d": target.database}).scalar():
            conn.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
    engine.dispose()


def start_redis(stack: Stack, tmp: Path) -> str:
    """REDIS_URL (whose queues must be empty), or a private redis-server on a free port."""
    if url := os.environ.get("REDIS_URL"):
        return url
    port = free_port()
    stack.logs.mkdir(parents=True, exist_ok=True)
    log = stack.logs / "redis.log"
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
            "--dir", str(tmp)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    stack.procs.append(("redis", proc))
    url = f"redis://127.0.0.1:{port}/0"
    conn = redis.Redis.from_url(url)
    deadline = time.time() + 15
    while True:
        try:
            conn.ping()
            return url
        except redis.ConnectionError:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"redis-server did not come up:\n{tail(log)}") from None
            time.sleep(0.1)


def run_workers(kind: str, args, env: dict, stack: Stack, app, sku_id: int):
    """Start W workers of `kind`, wait until every delivery of the SKU is final (or the workers are gone);
    (UTC start, seconds, CPU seconds of the workers and their work horses, exit codes)."""
    from app.core.ids import utcnow

    argv = [sys.executable, *WORKER_ARGV[kind]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = []
    started, t0 = utcnow(), time.perf_counter()
    for i in range(args.workers):
        with open(stack.logs / f"worker-{kind}-{i}.log", "wb") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        procs.append(proc)
        stack.procs.append((f"worker-{kind}", proc))
    shown = 0.0
    while True:
        with app.app_context():
            counts = support.delivery_counts(sku_id)
        pending = counts.get("queued", 0) + counts.get("accepted", 0)
        now = time.perf_counter()
        if not pending:
            break
        if all(p.poll() is not None for p in procs):
            say(f"{kind}: every worker exited with {pending} deliveries unfinished: {counts}")
            break
        if now - t0 > args.timeout:
            say(f"{kind}: timed out after {args.timeout:.0f} s: {counts}")
            break
        if now - shown >= 5:
            shown = now
            say(f"{kind}: {now - t0:.0f} s, {counts}")
        time.sleep(0.05)
    seconds = time.perf_counter() - t0
    for proc in procs:  # burst workers leave once the queues are empty
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            Stack._stop(proc)
        stack.procs.remove((f"worker-{kind}", proc))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return started, seconds, cpu, [p.returncode for p in procs]


def worker_batch(kind: str, args, env: dict, stack: Stack, app, user_id: int, supplier_id: int) -> dict:
    n, w = args.orders, args.workers
    with app.app_context():
        sku_id = support.add_topup_sku(f"BENCH-TOPUP-{kind.upper()}", supplier_id)
        support.clear_finished()
        t = time.perf_counter()
        say(f"{kind}: seeding {n} paid top-up orders")
        support.seed_orders(user_id, sku_id, n, ACCOUNT_BASE[kind],
                            progress=lambda i: say(f"{kind}: seeded {i}/{n}"))
        seed_s = time.perf_counter() - t
        queued = support.queue_lengths()
    if queued.get("fulfilment") != n:
        raise RuntimeError(f"expected {n} jobs on the fulfilment queue after seeding, found {queued}")
    say(f"{kind}: seeded in {seed_s:.1f} s; queues {queued}; starting {w} workers")
    started, seconds, cpu, codes = run_workers(kind, args, env, stack, app, sku_id)
    with app.app_context():
        rows = support.deliveries(sku_id)
        jobs = support.rq_job_times()
    report = support.batch_report(rows, started, seconds, support.sandbox_topups(env["SUPPLIER_SANDBOX_URL"]))
    steady = report["steady_topups_per_s"]
    report.update({
        "command": " ".join(["python", *WORKER_ARGV[kind]]),
        "worker_class": "rq.Worker (fork per job)" if kind == "rq" else "rq.SimpleWorker (no fork)",
        "worker_exit_codes": codes,
        "rq_job_run": jobs,
        # how long one worker process is busy per top-up once running, against the supplier's own latency
        "worker_s_per_topup": round(w / steady, 4) if steady else None,
        "cpu_s_workers": round(cpu, 1),
        "cpu_ms_per_topup": round(1000 * cpu / max(1, report["delivered"]), 1),
        "queued_before_start": queued,
        "seed_s": round(seed_s, 1),
    })
    # every order delivered, topped up exactly once, and every worker left cleanly
    report["ok"] = (report["exactly_once"] and report["delivered"] == n and report["failures"] == 0
                    and all(code == 0 for code in codes))
    say(f"{kind}: {report['delivered']}/{n} delivered in {seconds:.1f} s "
        f"({report['topups_per_s']}/s, steady {steady}/s), exactly once: {report['exactly_once']}")
    return report


def bare_batch(name: str, threads: int, args, env: dict) -> dict:
    from app.suppliers.adapters import SignedJsonAdapter
    from app.suppliers.services import CALLBACK_PATH

    adapter = SignedJsonAdapter(env["SUPPLIER_SANDBOX_URL"], PARTNER, env["SUPPLIER_SANDBOX_KEY"],
                                timeout=float(env["SUPPLIER_TIMEOUT_SECONDS"]))
    callback = env["PUBLIC_URL"] + CALLBACK_PATH.format(code=SUPPLIER_CODE)
    prefix = f"BARE{threads}T-{secrets.token_hex(3).upper()}"
    say(f"{name}: {args.bare_calls} top-ups through SignedJsonAdapter.topup on {threads} thread(s)")
    result = support.bare_loop(adapter, args.bare_calls, threads, prefix, ACCOUNT_BASE[name], callback)
    topups = support.sandbox_topups(env["SUPPLIER_SANDBOX_URL"])
    result["sandbox_topups"] = sum(t["out_order_no"].startswith(prefix + "-") for t in topups)
    result["ok"] = result["sandbox_topups"] == args.bare_calls and result["failures"] == 0
    say(f"{name}: {result['calls_per_s']} calls/s")
    return result


def ratio(bare: dict, worker: dict | None, key: str) -> float | None:
    if not worker or not worker.get(key):
        return None
    return round(bare["calls_per_s"] / worker[key], 2)


def run(args, url: str, tmp: Path, stack: Stack) -> dict:
    supplier_port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": start_redis(stack, tmp),
           "SECRET_KEY": secrets.token_hex(32), "QUANYI_MASTER_KEY": "bench:" + base64.b64encode(os.urandom(32)).decode(),
           # nothing listens here: with no faults the sandbox answers SUCCESS at once and never calls back
           "PUBLIC_URL": f"http://127.0.0.1:{free_port()}",
           "PAYGATE_KEY": secrets.token_hex(16), "PAYGATE_MERCHANT_ID": "quanyi",
           "SUPPLIER_SANDBOX_URL": f"http://127.0.0.1:{supplier_port}",
           "SUPPLIER_SANDBOX_KEY": secrets.token_hex(16),
           "SUPPLIER_TIMEOUT_SECONDS": os.environ.get("SUPPLIER_TIMEOUT_SECONDS", "10"),
           "QUANYI_INSTANCE": str(tmp / "instance")}
    os.environ.update(env)  # before `app` is first imported: app.config reads the environment then
    if busy := {n: v for n, v in _queue_lengths(env["REDIS_URL"]).items() if v}:
        raise RuntimeError(f"the queues on REDIS_URL are not empty: {busy}")
    ensure_database(url)
    reset_schema(url, env)
    stack.start("supplier", [sys.executable, "-m", "sandboxes.supplier", "--port", str(supplier_port),
                             "--key", env["SUPPLIER_SANDBOX_KEY"], "--partner", PARTNER,
                             "--latency-ms", f"{args.latency_ms:g}"],
                env, env["SUPPLIER_SANDBOX_URL"] + "/healthz")
    from app import create_app

    app = create_app()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per supplier call would drown the report
    load_before = os.getloadavg()
    with app.app_context():
        user_id, supplier_id = support.seed_common(env["SUPPLIER_SANDBOX_URL"], env["SUPPLIER_SANDBOX_KEY"])
    batches = {"rq": worker_batch("rq", args, env, stack, app, user_id, supplier_id)}
    if args.simple_worker:
        batches["simple"] = worker_batch("simple", args, env, stack, app, user_id, supplier_id)
    bare_1 = bare_batch("bare_1", 1, args, env)
    bare_w = bare_batch("bare_w", args.workers, args, env)
    with app.app_context():
        from app.extensions import db

        db.engine.dispose()
    w, simple = batches["rq"], batches.get("simple")
    return {
        "orders": args.orders, "workers": args.workers, "latency_ms": args.latency_ms,
        "worker": w,
        "simple_worker": simple,
        "bare_loop_1": bare_1,
        f"bare_loop_{args.workers}": bare_w,
        # bare-loop calls/s on W threads ÷ worker top-ups/s: how many times slower the worker path is
        "overhead_vs_bare_W": ratio(bare_w, w, "topups_per_s"),
        "overhead_vs_bare_W_steady": ratio(bare_w, w, "steady_topups_per_s"),
        "simple_overhead_vs_bare_W": ratio(bare_w, simple, "topups_per_s"),
        "simple_overhead_vs_bare_W_steady": ratio(bare_w, simple, "steady_topups_per_s"),
        "setup": {
            "database": "postgresql", "redis": "REDIS_URL" if args.redis_given else "private redis-server", "cores": os.cpu_count(),
            "load_avg_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            "supplier": f"python -m sandboxes.supplier --latency-ms {args.latency_ms:g} (no other fault)",
            "seconds": "from starting the worker processes (app import included) to every delivery final",
            "steady": "(delivered - 1) / (last delivered_at - first delivered_at)",
            "p50_p95": "delivered_at - created_at per delivery; all N were queued before the workers "
                       "started, so this is mostly time spent waiting in the queue",
            "rq_job_run": "RQ's started_at → ended_at per job (inside the work horse for rq.Worker)",
            "cpu": "user+system CPU of the worker processes and their work horses (sandbox, redis, "
                   "PostgreSQL not counted)",
            "logs": str(stack.logs),
        },
    }


def _queue_lengths(redis_url: str) -> dict[str, int]:
    from rq import Queue

    from app.queues import QUEUES

    conn = redis.Redis.from_url(redis_url)
    return {name: len(Queue(name, connection=conn)) for name in QUEUES}


def main() -> None:
    args = parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgresql://", "postgresql+psycopg://")):
        refuse("DATABASE_URL must name a PostgreSQL database this run may wipe "
               "(e.g. postgresql+psycopg://postgres@127.0.0.1/quanyi_bench_f); refusing to run.")
    args.redis_given = bool(os.environ.get("REDIS_URL"))
    say(f"wiping and rebuilding {sa.engine.make_url(url).render_as_string()}")
    tmp = Path(tempfile.mkdtemp(prefix="quanyi-bench-f-"))
    logs = ROOT / "bench" / "results" / time.strftime("fulfilment-%Y%m%d-%H%M%S")  # gitignored
    stack = Stack(tmp, logs)
    try:
        report = run(args, url, tmp, stack)
    finally:
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)
    verdict.finish("fulfilment", report, required(args))


def required(args) -> tuple[str, ...]:
    """The figures fulfilment must print: each batch's rate, CPU and check, the bare loops', the overheads."""
    batches = ("worker", "simple_worker") if args.simple_worker else ("worker",)
    figures = [f"{b}.{k}" for b in batches for k in ("ok", "topups_per_s", "p50_s", "p95_s", "cpu_ms_per_topup")]
    figures += [f"{loop}.{k}" for loop in ("bare_loop_1", f"bare_loop_{args.workers}")
                for k in ("ok", "calls_per_s")]
    figures += ["overhead_vs_bare_W"] + (["simple_overhead_vs_bare_W"] if args.simple_worker else [])
    return tuple(figures)


if __name__ == "__main__":
    main()
