"""The dashboard and margin pages over real HTTP on a seeded history (bench/seed_history.py); prints one JSON object.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/quanyi_history .venv/bin/python bench/dashboard.py \
        [--logins bench/results/history-logins.json] [--requests 30] [--workers 2] [--threads 2]
    # or seed first, in the same run (a small history, for CI):
    DATABASE_URL=... .venv/bin/python bench/dashboard.py --orders 2000

The app runs under gunicorn in a subprocess with the secrets the history was seeded with; one client signs in
as ops and one as finance (password, then the TOTP second step) and requests each page `--requests` times after
`--warmup` untimed ones: the ops dashboard (`/ops/?range=30d`, `range=7d`, `range=month`, and the operations half
it loads, `/ops/dashboard/operations`, for the same ranges) and the finance margin
page for each grouping (`by` = sku, brand, channel, supplier, reseller) over the last 30 days and last month.
Per page: p50/p95 of the wall time seen by the client, and the server's CPU per request (gunicorn's process
tree, bench/cpu.py).

Baseline, in the same run: the bare SQL for the same margin figures (postings of 6001/6003/6401/6402 grouped by
the same key, written here in SQL, not through the app) timed `--requests` times, p50/p95.

Check (fails the run loudly): every margin page's figures — each group's revenue, discount, cost and revenue
share, and the total — equal what that bare SQL computes straight from the books in the same run.

The target (p95 < 300 ms on PostgreSQL with 1,000,000 orders) is reported as `target.met`, never asserted.
"""

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import median
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/dashboard.py`
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import pyotp  # noqa: E402

from bench import verdict  # noqa: E402
from bench.checkout import Stack, free_port, p95_ms  # noqa: E402
from bench.fulfilment import start_redis  # noqa: E402
from bench.seed_scale import dsn_of  # noqa: E402

TARGET_MS = 300
BYS = ("sku", "brand", "channel", "supplier", "reseller")
ZONE = ZoneInfo("Asia/Shanghai")
FIGURES = ("revenue", "discount", "cost", "share")


def say(message: str) -> None:
    print(f"bench/dashboard.py: {message}", file=sys.stderr, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/dashboard.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--logins", default=str(ROOT / "bench" / "results" / "history-logins.json"),
                   help="logins written by bench/seed_history.py")
    p.add_argument("--orders", type=int, help="seed a history of this many orders first (wipes DATABASE_URL)")
    p.add_argument("--requests", type=int, default=30, help="timed requests per page, default 30")
    p.add_argument("--bare-requests", type=int, default=5, help="timed runs of each bare-SQL baseline, default 5")
    p.add_argument("--warmup", type=int, default=3, help="untimed requests per page first, default 3")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers, default 2")
    p.add_argument("--threads", type=int, default=2, help="gunicorn threads per worker, default 2")
    return p.parse_args(argv)


# --- signing in -----------------------------------------------------------------------------------------------

def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(r'value="([^"]+)"[^>]*name="csrf_token"',
                                                                              html)
    if not m:
        raise RuntimeError("no CSRF token on the page")
    return m.group(1)


def sign_in(base: str, email: str, logins: dict) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=60)
    r = c.post("/login", data={"csrf_token": _csrf(c.get("/login").text), "email": email,
                               "password": logins["password"]})
    if r.status_code != 303:
        raise RuntimeError(f"login of {email}: HTTP {r.status_code}")
    step = httpx.URL(r.headers["location"]).path
    if step.startswith("/mfa/verify"):
        page = c.get(step).text
        r = c.post(step, data={"csrf_token": _csrf(page), "code": pyotp.TOTP(logins["totp_secret"]).now()})
        if r.status_code != 303:
            raise RuntimeError(f"second step of {email}: HTTP {r.status_code}")
    return c


# --- the figures straight from the books ---------------------------------------------------------------------

KEYS = {"sku": "coalesce(coalesce(d.sku_id, o.sku_id), 0)", "brand": "coalesce(p.brand_id, 0)",
        "channel": "coalesce(o.channel, '')", "supplier": "coalesce(d.supplier_id, 0)",
        "reseller": "coalesce(o.reseller_id, 0)"}


def bare_sql(by: str) -> str:
    """The margin figures of [start, end) grouped by `by`, from the postings, in plain SQL: a unit's entries
    found by their memo (the delivery key) or, for supplier cost, by their key (delivery:<id>:cost)."""
    key = KEYS[by]
    parts = []
    for cost in (False, True):
        join = ("d.id = split_part(e.idempotency_key, ':', 2)::int" if cost else "d.key = e.memo")
        kind = "e.kind = 'supplier_cost'" if cost else "e.kind <> 'supplier_cost'"
        parts.append(f"""
            SELECT {key} AS k, a.code, sum(x.amount_fen) AS amount
            FROM journal_entries e
            JOIN LATERAL (SELECT account_id, amount_fen FROM postings WHERE entry_id = e.id OFFSET 0) x ON true
            JOIN ledger_accounts a ON a.id = x.account_id
            LEFT JOIN deliveries d ON {join}
            LEFT JOIN orders o ON o.id = coalesce(d.order_id, CASE WHEN e.ref_type = 'order' THEN e.ref_id END)
            LEFT JOIN skus s ON s.id = coalesce(d.sku_id, o.sku_id) LEFT JOIN products p ON p.id = s.product_id
            WHERE a.code IN ('6001', '6003', '6401', '6402') AND e.booked_at >= %(start)s AND e.booked_at < %(end)s
              AND {kind}
            GROUP BY 1, 2""")
    return " UNION ALL ".join(parts)


def from_books(conn, by: str, start: datetime, end: datetime) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    sign = {"6001": ("revenue", -1), "6003": ("discount", 1), "6401": ("cost", 1), "6402": ("share", 1)}
    for k, code, amount in conn.execute(bare_sql(by), {"start": start, "end": end}):
        figure, s = sign[code]
        out.setdefault(str(k), [0, 0, 0, 0])[FIGURES.index(figure)] += s * int(amount)
    return {k: v for k, v in out.items() if any(v)}


def bounds(first: date, last: date) -> tuple[datetime, datetime]:
    def utc(d: date) -> datetime:
        return datetime.combine(d, datetime.min.time(), ZONE).astimezone(UTC).replace(tzinfo=None)
    return utc(first), utc(last + timedelta(days=1))


def sales_from_orders(conn, start: datetime, end: datetime) -> tuple[int, int, int]:
    """GMV (fen), paid orders and paying users of orders paid in [start, end), straight from the orders table
    (docs/insight.md: a paying user is the buyer, or the reseller for an API order)."""
    row = conn.execute(
        "SELECT coalesce(sum(amount_fen), 0), count(*), count(DISTINCT coalesce('u' || buyer_id, 'r' || reseller_id))"
        " FROM orders WHERE paid_at >= %s AND paid_at < %s", (start, end)).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


# --- the page's figures ---------------------------------------------------------------------------------------

def dashboard_figures(client: httpx.Client, query: str) -> tuple[int, int, int]:
    """GMV (fen), paid orders and paying users as the dashboard's figures download gives them."""
    import openpyxl

    r = client.get(f"/ops/dashboard/figures.xlsx?{query}")
    if r.status_code != 200:
        raise RuntimeError(f"figures.xlsx?{query}: HTTP {r.status_code}")
    rows = list(openpyxl.load_workbook(io.BytesIO(r.content)).active.iter_rows(min_row=2, values_only=True))
    return round(rows[0][1] * 100), int(rows[1][1]), int(rows[2][1])


def _fen(text: str) -> int:
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    digits = re.sub(r"[^0-9]", "", text)
    return sign * int(digits or 0)


def on_page(html: str) -> dict[str, list[int]]:
    """{group key: [revenue, discount, cost, share]} read from the margin table, plus "total"."""
    out = {}
    rows = re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', html, re.S)
    total = re.search(r'<tr id="margin-total">(.*?)</tr>', html, re.S)
    for key, row in [*rows, *([("total", total.group(1))] if total else [])]:
        cells = {c: _fen(v) for c, v in re.findall(r'class="money (\w+)">([^<]*)<', row)}
        out[key] = [cells[f] for f in FIGURES]
    return out


def check(page: dict, books: dict) -> list[str]:
    problems = []
    total = page.pop("total", [0, 0, 0, 0])
    if page != books:
        wrong = sorted(set(page) ^ set(books) | {k for k in set(page) & set(books) if page[k] != books[k]})
        problems.append(f"groups differ: {[(k, page.get(k), books.get(k)) for k in wrong[:5]]}")
    sums = [sum(v[i] for v in books.values()) for i in range(4)]
    if books and total != sums:
        problems.append(f"total {total} != books {sums}")
    return problems


# --- the run --------------------------------------------------------------------------------------------------

def timed(client: httpx.Client, url: str, n: int, warmup: int) -> tuple[list[float], str]:
    html = ""
    for _ in range(warmup):
        client.get(url)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(url)
        samples.append(time.perf_counter() - t0)
        if r.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {r.status_code}")
        html = r.text
    return samples, html


def stats(samples: list[float]) -> dict:
    return {"p50_ms": round(median(samples) * 1000, 1) if samples else None, "p95_ms": p95_ms(samples)}


def run(args, url: str, stack: Stack) -> dict:
    if args.orders:
        logins_path = stack.tmp / "logins.json"
        say(f"seeding {args.orders:,} orders first")
        done = subprocess.run([sys.executable, str(ROOT / "bench" / "seed_history.py"), "--orders", str(args.orders),
                               "--out", str(logins_path)], cwd=ROOT, env={**os.environ}, capture_output=True,
                              text=True, timeout=1800)
        if done.returncode:
            raise RuntimeError(f"seed_history failed:\n{done.stderr[-2000:]}")
    else:
        logins_path = Path(args.logins)
    logins = json.loads(logins_path.read_text())
    port = free_port()
    env = {**os.environ, **logins["env"], "DATABASE_URL": url, "REDIS_URL": start_redis(stack, stack.tmp),
           "PUBLIC_URL": f"http://127.0.0.1:{port}"}
    stack.start("gunicorn", [sys.executable, "-m", "gunicorn", "-w", str(args.workers), "--threads",
                             str(args.threads), "-b", f"127.0.0.1:{port}", "--timeout", "120", "wsgi:app"],
                env, env["PUBLIC_URL"] + "/login", timeout=60)
    base = env["PUBLIC_URL"]
    ops = sign_in(base, logins["staff"]["ops"][0], logins)
    finance = sign_in(base, logins["staff"]["finance"][0], logins)
    today = datetime.now(ZONE).date()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    periods = {"30d": ({"range": "30d"}, today - timedelta(days=29), today),
               "last_month": ({"range": "month", "month": f"{last_month_end:%Y-%m}"}, last_month_end.replace(day=1),
                              last_month_end)}
    pages: dict[str, dict] = {}
    problems: list[str] = []
    cpu_before = stack.cpu_seconds("gunicorn")
    n_requests = 0
    dsn = dsn_of(url)
    baseline: dict[str, dict] = {}
    month_first = today.replace(day=1)
    ops_periods = [("ops_30d", "range=30d", today - timedelta(days=29)), ("ops_7d", "range=7d", today - timedelta(days=6)),
                   ("ops_month", "range=month", month_first)]
    with psycopg.connect(dsn) as conn:
        for name, query, first in ops_periods:
            samples, _ = timed(ops, f"/ops/?{query}", args.requests, args.warmup)
            pages[name] = stats(samples)
            n_requests += args.requests + args.warmup
            # the page's headline figures, as its XLSX download gives them, against the orders in bare SQL
            shown = dashboard_figures(ops, query)
            bare = []
            for _ in range(args.bare_requests):
                t0 = time.perf_counter()
                truth = sales_from_orders(conn, *bounds(first, today))
                bare.append(time.perf_counter() - t0)
            baseline[name] = stats(bare)
            if shown != truth:
                problems.append(f"{name}: dashboard shows (GMV fen, paid orders, paying users) {shown}, "
                                f"the orders say {truth}")
                say(f"FIGURES DIFFER on {name}: {shown} != {truth}")
            # the dashboard's operations half, which the page loads into itself for the same period
            samples, _ = timed(ops, f"/ops/dashboard/operations?{query}", args.requests, args.warmup)
            pages[f"{name}_operations"] = stats(samples)
            n_requests += args.requests + args.warmup
        for pname, (query, first, last) in periods.items():
            start, end = bounds(first, last)
            for by in BYS:
                name = f"margin_{by}_{pname}"
                samples, html = timed(finance, "/finance/margin?" + str(httpx.QueryParams({**query, "by": by})),
                                      args.requests, args.warmup)
                pages[name] = stats(samples)
                n_requests += args.requests + args.warmup
                bare = []
                for _ in range(args.bare_requests):
                    t0 = time.perf_counter()
                    books = from_books(conn, by, start, end)
                    bare.append(time.perf_counter() - t0)
                baseline[name] = stats(bare)
                found = check(on_page(html), books)
                problems.extend(f"{name}: {p}" for p in found)
                if found:
                    say(f"FIGURES DIFFER on {name}: {found}")
    cpu_after = stack.cpu_seconds("gunicorn")
    stack.stop("gunicorn")
    with psycopg.connect(dsn) as conn:
        orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    worst = max(p["p95_ms"] for p in pages.values())
    margin_worst = max(p["p95_ms"] for n, p in pages.items() if n.startswith("margin_"))
    bare_worst = max(p["p95_ms"] for p in baseline.values())
    return {
        "database": "postgresql", "orders": orders, "requests_per_page": args.requests,
        "server": f"gunicorn -w {args.workers} --threads {args.threads}",
        "pages": pages, "baseline_bare_sql": baseline,
        "p95_ms_worst": worst, "margin_p95_ms_worst": margin_worst, "bare_sql_p95_ms_worst": bare_worst,
        "margin_vs_bare_sql_p95": round(margin_worst / bare_worst, 2) if bare_worst else None,
        "cpu_ms_per_request": {"gunicorn": round(1000 * (cpu_after - cpu_before) / n_requests, 2)
                               if cpu_after is not None and cpu_before is not None else None},
        "target": {"p95_ms": TARGET_MS, "met": worst < TARGET_MS},
        "check": {"ok": not problems, "pages_checked": len(periods) * len(BYS) + len(ops_periods)},
        "errors": problems,
    }


def required(report: dict) -> tuple[str, ...]:
    return ("pages.ops_30d.p95_ms", "pages.margin_sku_30d.p95_ms", "baseline_bare_sql.margin_sku_30d.p95_ms",
            "p95_ms_worst", "cpu_ms_per_request.gunicorn", "check.ok")


def main(argv=None) -> None:
    args = parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgresql://", "postgresql+psycopg://")):
        say("DATABASE_URL must name the PostgreSQL database bench/seed_history.py seeded; refusing to run.")
        sys.exit(2)
    report: dict = {}
    with tempfile.TemporaryDirectory(prefix="quanyi-dashboard-") as tmp:
        stack = Stack(Path(tmp), Path(tmp) / "logs")
        try:
            report = run(args, url, stack)
        except Exception as e:  # reported in the JSON; the verdict fails the run
            report = {"error": f"{type(e).__name__}: {e}", "check": {"ok": False}}
            log = Path(tmp) / "logs" / "gunicorn.log"
            if log.exists():
                say(log.read_text()[-3000:])
        finally:
            stack.close()
    verdict.finish("dashboard", report, required(report))


if __name__ == "__main__":
    main()
