"""The floor of this stack on this machine: what Flask under gunicorn costs per request before the app does anything;
prints one JSON object.

    .venv/bin/python bench/floor.py [--requests 5000] [--clients 32] [--workers 2] [--threads 4] [--warmup 200]

Two servers run, one after the other, each under gunicorn with the shape `quanyi up` gives the web app
(`app.cli.embedded.web_argv`: gthread, `--workers` processes × `--threads` threads, no access log), on a free
loopback port:

- `hello`: a Flask app with one route answering a short string (`GET /`);
- `paygate`: the sandbox payment gateway (`sandboxes.paygate`, a small real Flask app), driven with its signed
  status query (`POST /api/query`: form parsing, the signature checked, a signed JSON answer). It is skipped
  (`{"skipped": reason}`) only if it cannot start under gunicorn.

Each is driven by `--clients` threads, one keep-alive httpx client each (as bench/api_orders.py drives the API),
sending `--requests` requests in all after `--warmup` untimed ones. Reported per server: `requests_per_s`,
`p50_ms`, `p95_ms`, `cpu_ms_per_request.server` (gunicorn's process tree, bench/cpu.py) and
`cpu_ms_per_request.driver` (this process, all its threads), `errors` (requests that failed or answered anything
but 200). No database and no Redis: nothing of the app's own work is in these figures, so the app's CPU per
request less these is what the app itself costs.

Exit 0 only if nothing in the report fails (bench/verdict.py): every request answered 200, every figure printed.
"""

import argparse
import hashlib
import hmac
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/floor.py`
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from app.cli.embedded import web_argv  # noqa: E402
from bench import cpu, verdict  # noqa: E402
from bench.checkout import free_port, p95_ms, tail  # noqa: E402

HELLO = '''from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "hello"
'''
MERCHANT, KEY = "floor", "floor-bench-key"


def say(message: str) -> None:
    print(f"[floor] {message}", file=sys.stderr, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=5000, help="timed requests per server, default 5000")
    p.add_argument("--clients", type=int, default=32, help="driver threads, default 32")
    p.add_argument("--workers", type=int, default=2, help="gunicorn processes, default 2 (quanyi up's)")
    p.add_argument("--threads", type=int, default=4, help="threads per gunicorn process, default 4 (quanyi up's)")
    p.add_argument("--warmup", type=int, default=200, help="untimed requests first, default 200")
    return p.parse_args(argv)


def _sign(fields: dict) -> str:
    """The gateway's signature (sandboxes/paygate/app.py `_sign`), as a merchant computes it."""
    text = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "sign" and fields[k] not in ("", None))
    return hmac.new(KEY.encode(), text.encode(), hashlib.sha256).hexdigest()


def _query_form(i: int) -> dict:
    fields = {"merchant_id": MERCHANT, "out_trade_no": f"FLOOR{i:08d}", "timestamp": str(int(time.time()))}
    return {**fields, "sign": _sign(fields)}


class Server:
    """gunicorn with `quanyi up`'s web shape serving `target`, started and stopped again."""

    def __init__(self, name: str, target: str, chdir: Path, logs: Path, args):
        self.port = free_port()
        self.log = logs / f"{name}.log"
        argv = web_argv(sys.executable, f"127.0.0.1:{self.port}", workers=args.workers, threads=args.threads)
        self.argv = [*argv[:-1], "--chdir", str(chdir), target]  # web_argv ends with the app, wsgi:app
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen(self.argv, stdout=self.log.open("w"), stderr=subprocess.STDOUT, env=env,
                                     cwd=ROOT)
        return self

    def wait_up(self, probe, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}: {tail(self.log, 15)}")
            try:
                if probe(f"http://127.0.0.1:{self.port}").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer in {timeout:.0f} s: {tail(self.log, 15)}")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def drive(base: str, send, n: int, clients: int) -> dict:
    """`clients` threads, one keep-alive client each, send `n` requests in all with `send(client, i)`."""
    work: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(n):
        work.put(i)
    took: list[float] = []  # list.append is atomic: the threads share these without a lock
    errors: list[str] = []
    start = threading.Barrier(clients + 1)

    def one(http: httpx.Client, i: int) -> None:
        t0 = time.perf_counter()
        try:
            resp = send(http, i)
        except httpx.HTTPError as e:
            errors.append(f"{e.__class__.__name__}: {e}")
            return
        if resp.status_code != 200:
            errors.append(f"HTTP {resp.status_code}")
        else:
            took.append(time.perf_counter() - t0)

    def client():
        with httpx.Client(base_url=base, timeout=60) as http:
            start.wait(60)
            try:
                while True:
                    one(http, work.get_nowait())
            except queue.Empty:
                return

    with ThreadPoolExecutor(clients, thread_name_prefix="floor") as pool:
        done = [pool.submit(client) for _ in range(clients)]
        start.wait(60)  # every client connected and waiting: the clock starts
        t0 = time.perf_counter()
        wait(done, timeout=600)
        wall = time.perf_counter() - t0
    return {"took": took, "errors": errors, "wall_s": wall}


def measure(server: Server, send, args) -> dict:
    base = f"http://127.0.0.1:{server.port}"
    if args.warmup:
        warm = drive(base, send, args.warmup, min(args.clients, args.warmup))
        if warm["errors"]:
            raise RuntimeError(f"warm-up failed: {warm['errors'][:3]}")
    cpu_before, driver_before = cpu.tree_seconds(server.proc.pid), time.process_time()
    run = drive(base, send, args.requests, args.clients)
    cpu_after, driver_after = cpu.tree_seconds(server.proc.pid), time.process_time()
    answered = len(run["took"])
    ordered = sorted(run["took"])
    return {
        "requests": args.requests, "answered_200": answered,
        "wall_s": round(run["wall_s"], 3),
        "requests_per_s": round(answered / run["wall_s"], 1) if run["wall_s"] and answered else None,
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2) if ordered else None,
        "p95_ms": p95_ms(run["took"]),
        "cpu_ms_per_request": {"server": cpu.delta_ms_per(cpu_after, cpu_before, answered),
                               "driver": cpu.delta_ms_per(driver_after, driver_before, answered)},
        "errors": {"count": len(run["errors"]) + (args.requests - answered - len(run["errors"])),
                   "first": run["errors"][:5]},
    }


def run(args, tmp: Path, logs: Path) -> dict:
    report: dict = {}
    (tmp / "floor_hello.py").write_text(HELLO)
    with Server("hello", "floor_hello:app", tmp, logs, args) as server:
        server.wait_up(lambda base: httpx.get(base + "/", timeout=2))
        say(f"hello: {args.requests} requests from {args.clients} clients")
        report["hello"] = measure(server, lambda http, _i: http.get("/"), args)
        report["setup"] = {"server_argv": server.argv}
    target = f"sandboxes.paygate.app:create_app({{{MERCHANT!r}: {KEY!r}}})"
    try:
        with Server("paygate", target, ROOT, logs, args) as server:
            try:
                server.wait_up(lambda base: httpx.post(base + "/api/query", data=_query_form(0), timeout=2))
            except RuntimeError as e:
                report["paygate"] = {"skipped": f"does not run under gunicorn here: {e}"}
                return report
            say(f"paygate: {args.requests} signed queries from {args.clients} clients")
            report["paygate"] = {"route": "POST /api/query (signed, unknown trade)",
                                 **measure(server, lambda http, i: http.post("/api/query", data=_query_form(i)),
                                           args)}
    except OSError as e:
        report["paygate"] = {"skipped": f"could not start gunicorn: {e}"}
    return report


def required(report: dict) -> list[str]:
    need = ["hello.requests_per_s", "hello.p50_ms", "hello.cpu_ms_per_request.server",
            "hello.cpu_ms_per_request.driver"]
    if "skipped" not in report.get("paygate", {}):
        need += ["paygate.requests_per_s", "paygate.p50_ms", "paygate.cpu_ms_per_request.server",
                 "paygate.cpu_ms_per_request.driver"]
    return need


def main(argv=None) -> None:
    args = parse_args(argv)
    logs = ROOT / "bench" / "results" / f"floor-{time.strftime('%Y%m%d-%H%M%S')}"
    logs.mkdir(parents=True, exist_ok=True)
    report: dict = {"config": {k: getattr(args, k) for k in ("requests", "clients", "workers", "threads", "warmup")},
                    "setup": {"load_avg_1m_at_start": round(os.getloadavg()[0], 2), "logs": str(logs)}}
    try:
        with tempfile.TemporaryDirectory(prefix="quanyi-floor-") as tmp:
            found = run(args, Path(tmp), logs)
            report["setup"].update(found.pop("setup", {}))
            report.update(found)
    except Exception as e:  # reported, and the exit status says it failed
        report["errors"] = [f"{type(e).__name__}: {e}"]
    verdict.finish("floor", report, required(report))


if __name__ == "__main__":
    main()
