"""Every bench in bench/ runs, in a tiny configuration, and must exit 0 with its key figures (issue 15: a
bench whose baseline broke once kept exiting 0 with "ratio": 0.0, and nobody saw it).

Each bench is a subprocess exactly as a person would run it. On the PostgreSQL pass (DATABASE_URL set) a
bench that needs a database gets a fresh one of its own on the same server, `<ci db>_bench_<name>`, dropped
afterwards; on the embedded pass the benches that support SQLite run on a temporary SQLite file, checkout
runs against `quanyi up` (--embedded), and the PostgreSQL-only ones are skipped: CI runs both passes, so
every bench runs at least once. REDIS_URL is never passed on: the benches start a Redis of their own (their
queues must be empty, and the suite's Redis database is not). No figure is judged here, only that the run
passed its own checks and printed what it must (bench/verdict.py); up to three benches run at once.

The exit rule itself is tested in-process, below, on reports built by hand.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench import api_orders, verdict
from tests.support.processes import ROOT

PG_URL = os.environ.get("DATABASE_URL", "")
PG = PG_URL.startswith("postgresql")
TIMEOUT = 300


@dataclass(frozen=True)
class Bench:
    script: str
    argv: tuple[str, ...]
    #: where it runs: "pg" (a database of its own on the PostgreSQL pass), "sqlite" (a temporary SQLite file
    #: on the embedded pass), "none" (needs no DATABASE_URL: the embedded pass only)
    backends: frozenset[str]
    #: figures the JSON must hold (dotted paths, not None)
    figures: tuple[str, ...]


BENCHES = {
    "api_orders": Bench("api_orders.py", ("--attempts", "40", "--stock", "30", "--clients", "4",
                                          "--resellers", "2", "--workers", "1", "--threads", "2"),
                        frozenset({"pg", "sqlite"}),
                        ("orders_per_s", "p95_ms_201", "cpu_ms_per_order.app", "cpu_ms_per_order.gunicorn",
                         "check.ok")),
    "bulk_issue": Bench("bulk_issue.py", ("--codes", "500", "--timeout", "120"), frozenset({"pg", "sqlite"}),
                        ("total_s", "phases_s.issue", "baseline.bare_sql_s", "ratio.vs_bare_sql", "check.ok")),
    "checkout": Bench("checkout.py", ("--buyers", "4", "--codes", "3", "--raw-codes", "200", "--workers", "1",
                                      "--threads", "2", "--timeout", "120"), frozenset({"pg"}),
                      ("orders_per_s", "bare_claims_per_s", "throughput_vs_bare", "cpu_ms_per_paid_order.app",
                       "cpu_ms_per_paid_order.apart.paygate", "check.ok")),
    "checkout_embedded": Bench("checkout.py", ("--embedded", "--buyers", "4", "--clients", "2", "--codes", "3",
                                               "--timeout", "120"), frozenset({"none"}),
                               ("paid_orders_per_s", "p50_purchase_ms", "p95_purchase_ms",
                                "requests_per_paid_order.app", "cpu_ms_per_paid_order.app",
                                "cpu_ms_per_paid_order.web", "cpu_ms_per_paid_order.worker",
                                "cpu_ms_per_paid_order.redis", "cpu_ms_per_paid_order.apart.gateway", "check.ok")),
    "floor": Bench("floor.py", ("--requests", "60", "--clients", "2", "--workers", "1", "--threads", "2",
                                "--warmup", "5"), frozenset({"none"}),
                   ("hello.requests_per_s", "hello.cpu_ms_per_request.server", "hello.cpu_ms_per_request.driver",
                    "paygate.requests_per_s", "paygate.cpu_ms_per_request.server")),
    "flash_sale": Bench("flash_sale.py", ("--buyers", "40", "--quota", "12", "--clients", "4", "--workers", "1",
                                          "--threads", "2", "--timeout", "120"), frozenset({"pg"}),
                        ("accepted_orders_per_s", "p95_ms_accepted", "bare.units_per_s", "throughput_vs_bare",
                         "cpu_ms_per_accepted_order.app", "oversold", "over_limit", "check.ok", "bare.ok")),
    "fulfilment": Bench("fulfilment.py", ("--orders", "5", "--workers", "1", "--latency-ms", "0", "--timeout",
                                          "120"), frozenset({"pg"}),
                        ("worker.topups_per_s", "worker.cpu_ms_per_topup", "simple_worker.topups_per_s",
                         "bare_loop_1.calls_per_s", "overhead_vs_bare_W", "worker.ok")),
    "risk": Bench("risk.py", ("--decisions", "200", "--checkouts", "20", "--buyers", "20"), frozenset({"pg", "sqlite"}),
                  ("rules", "decision.p50_ms", "decision.p99_ms", "decision.cpu_ms", "checkout.p99_ms",
                   "bare.p99_ms", "decision_vs_checkout", "check.ok")),
    "seed_history": Bench("seed_history.py", ("--orders", "2000", "--days", "60"), frozenset({"pg"}),
                          ("rows.orders", "seconds.copy", "seconds.rollups", "rollups.margin_rows", "check.ok")),
    "dashboard": Bench("dashboard.py", ("--orders", "2000", "--requests", "3", "--warmup", "1", "--workers", "1"),
                       frozenset({"pg"}), ("pages.ops_30d.p95_ms", "pages.margin_sku_30d.p95_ms",
                                           "baseline_bare_sql.margin_sku_30d.p95_ms", "cpu_ms_per_request.gunicorn",
                                           "check.ok")),
    "statement_pdf": Bench("statement_pdf.py", ("--lines", "120"), frozenset({"pg", "sqlite"}),
                           ("app.total_s", "app.pdf_s", "app.peak_rss_mb", "baseline_weasyprint_cli.total_s",
                            "app_vs_cli.time", "check.ok")),
}


LONGEST_FIRST = ["dashboard", "fulfilment", "seed_history", "statement_pdf", "checkout", "flash_sale", "api_orders",
                 "bulk_issue", "checkout_embedded", "risk", "floor"]


def backend(bench: Bench) -> str | None:
    """What this bench runs on in this pass; None: not in this pass."""
    if PG:
        return "pg" if "pg" in bench.backends else None
    for kind in ("sqlite", "none"):
        if kind in bench.backends:
            return kind
    return None


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def _admin_engine() -> sa.Engine:
    return sa.create_engine(sa.engine.make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _run(name: str, bench: Bench, kind: str) -> Run:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "QUANYI_INSTANCE")}
    env["PYTHONPATH"] = str(ROOT)
    db_name = None
    with tempfile.TemporaryDirectory(prefix=f"quanyi-bench-test-{name}-") as tmp:
        if kind == "pg":
            db_name = f"{sa.engine.make_url(PG_URL).database}_bench_{name}"
            with _admin_engine().connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
                conn.exec_driver_sql(f'CREATE DATABASE "{db_name}"')
            env["DATABASE_URL"] = sa.engine.make_url(PG_URL).set(database=db_name).render_as_string(
                hide_password=False)
        elif kind == "sqlite":
            env["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'bench.db'}"  # tmp is absolute: sqlite:////...
        t0 = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, str(ROOT / "bench" / bench.script), *bench.argv], cwd=ROOT,
                                  env=env, capture_output=True, text=True, timeout=TIMEOUT)
            return Run(done.returncode, done.stdout, done.stderr, time.perf_counter() - t0)
        except subprocess.TimeoutExpired as e:
            return Run(-1, e.stdout or "", f"timed out after {TIMEOUT} s\n{e.stderr or ''}", TIMEOUT)
        finally:
            if db_name:
                with _admin_engine().connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def bench_runs(request):
    """Starts every bench selected in this module that runs in this pass, three at a time; name → Future."""
    selected = {item.callspec.params["name"] for item in request.session.items
                if item.nodeid.startswith(request.node.nodeid + "::test_bench")}
    pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="bench")
    runs: dict[str, Future] = {}
    # the longest first, so the three lanes end together
    for name in sorted(selected, key=LONGEST_FIRST.index):
        kind = backend(BENCHES[name])
        if kind is not None:
            runs[name] = pool.submit(_run, name, BENCHES[name], kind)
    yield runs
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BENCHES))
def test_bench(name, bench_runs):
    bench = BENCHES[name]
    if backend(bench) is None:
        where = "PostgreSQL" if "pg" in bench.backends else "embedded"
        pytest.skip(f"bench/{bench.script} {' '.join(bench.argv[:1])} runs on the {where} pass only")
    run = bench_runs[name].result(timeout=TIMEOUT * 3)
    tail = run.stderr[-3000:]
    assert run.returncode == 0, f"bench/{bench.script} exited {run.returncode} after {run.seconds:.0f} s:\n{tail}"
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"bench/{bench.script} must print one JSON object, printed:\n{run.stdout[-2000:]}"
    report = json.loads(lines[0])
    assert report["verdict"] == {"passed": True, "problems": []}
    missing = [path for path in bench.figures if _get(report, path) is None]
    assert not missing, f"bench/{bench.script}: figures missing from its report: {missing}"


def _get(report: dict, path: str):
    try:
        return verdict.lookup(report, path)
    except KeyError:
        return None


# --- the exit rule, in-process ---------------------------------------------------------------------------

def _api_report(**over) -> dict:
    """An api_orders-shaped report that passes."""
    report = {"database": "postgresql", "orders_per_s": 30.0, "p50_ms_201": 900.0, "p95_ms_201": 1500.0,
              "check": {"ok": True, "oversold": 0}, "errors": {"count": 0, "first": []},
              "bare_sql": {"claimed": 30, "refused": 10, "errors": [], "orders_per_s": 270.0, "ok": True},
              "bare_orders_per_s": 270.0, "ratio": 9.0, "throughput_vs_bare": 0.11,
              "cpu_ms_per_order": {"app": 31.0, "gunicorn": 30.0, "redis": 1.0}}
    report.update(over)
    return report


def _api_required(report: dict):
    return api_orders.required(report)


def test_a_passing_report_exits_0():
    report = _api_report()
    assert verdict.problems(report, _api_required(report)) == []
    assert verdict.exit_code(report, _api_required(report)) == 0


def test_the_broken_baseline_of_issue_15_exits_1():
    """Every bare row failed (NotNullViolation on booked_at): no orders/s, ratio 0.0, errors listed."""
    report = _api_report(bare_sql={"claimed": 0, "refused": 0, "ok": False,
                                   "errors": ['NotNullViolation: null value in column "booked_at"'] * 32},
                         bare_orders_per_s=None, ratio=None, throughput_vs_bare=None)
    found = verdict.problems(report, _api_required(report))
    assert verdict.exit_code(report, _api_required(report)) == 1
    assert any(p.startswith("bare_sql.errors") for p in found)
    assert any(p.startswith("bare_sql.ok") for p in found)
    assert "throughput_vs_bare: None" in found and "bare_orders_per_s: None" in found


@pytest.mark.parametrize("change, expected", [
    ({"check": {"ok": False}}, "check.ok: check failed (False)"),
    ({"errors": {"count": 2, "first": ["ReadTimeout"]}}, "errors: "),
    ({"cpu_ms_per_order": {"app": None, "gunicorn": 30.0}}, "cpu_ms_per_order.app: None"),
    ({"cpu_ms_per_order": {"gunicorn": 30.0}}, "cpu_ms_per_order.app: missing"),
    ({"orders_per_s": float("nan")}, "orders_per_s: nan"),
    ({"bare_sql": {"claimed": 30, "errors": [], "ok": True, "lost_updates": 1}}, "bare_sql.lost_updates: 1"),
])
def test_any_failed_check_error_or_missing_figure_exits_1(change, expected):
    report = _api_report(**change)
    found = verdict.problems(report, _api_required(report))
    assert any(p.startswith(expected) for p in found), found
    assert verdict.exit_code(report, _api_required(report)) == 1


def test_an_oversold_unit_or_a_buyer_over_the_limit_exits_1():
    """bench/flash_sale.py prints both; any non-zero one, at any depth, fails the run."""
    found = verdict.problems({"oversold": 0, "over_limit": 1, "bare": {"oversold": 2, "over_limit": 0}})
    assert found == ["over_limit: 1", "bare.oversold: 2"]


def test_failures_deep_in_a_report_count():
    report = {"worker": {"ok": True, "failures": 0, "rq_job_run": {"failed": 1}},
              "bare_loop_1": {"failures": 3, "calls_per_s": 10.0},
              "baseline_weasyprint_cli": {"exit": 1, "pages": None}}
    found = verdict.problems(report)
    assert found == ["worker.rq_job_run.failed: 1", "bare_loop_1.failures: 3", "baseline_weasyprint_cli.exit: 1"]


def test_a_baseline_skipped_on_sqlite_is_not_required_but_one_skipped_on_postgresql_is():
    skipped = {"skipped": "the bare-SQL baseline runs on PostgreSQL only (psycopg)"}
    on_sqlite = _api_report(database="sqlite", bare_sql=skipped, bare_orders_per_s=None, ratio=None,
                            throughput_vs_bare=None)
    assert verdict.exit_code(on_sqlite, _api_required(on_sqlite)) == 0
    on_pg = dict(on_sqlite, database="postgresql")
    assert verdict.exit_code(on_pg, _api_required(on_pg)) == 1


def test_finish_prints_one_json_object_with_its_verdict_and_exits_by_it(capsys):
    with pytest.raises(SystemExit) as exited:
        verdict.finish("api_orders", _api_report(ratio=None), ["ratio"])
    assert exited.value.code == 1
    out, err = capsys.readouterr()
    printed = json.loads(out)
    assert printed["verdict"] == {"passed": False, "problems": ["ratio: None"]}
    assert "FAILED: ratio: None" in err
    with pytest.raises(SystemExit) as exited:
        verdict.finish("api_orders", _api_report(), ["ratio"])
    assert exited.value.code == 0


@pytest.mark.pg
@pytest.mark.skipif(not PG, reason="the bare baselines replay their SQL with psycopg: PostgreSQL only")
def test_the_api_baseline_writes_journal_entries_as_ledger_post_does(ctx):
    """The INSERTs api_orders' baseline replays are the ones `ledger.post` sends: booked_at (whose absence
    broke the baseline) is among them, and a replayed entry is a valid, balanced row."""
    from app.core.ids import utcnow
    from app.extensions import db
    from app.ledger import services as ledger

    captured = api_orders.CapturedPosting("2203", "6001")
    assert "booked_at" in captured.entry_sql
    debit, credit = ledger.account("2203").id, ledger.account("6001").id
    conn = db.session.connection().connection.driver_connection
    captured.post(conn, kind="bench_order", key="bench:test:1", memo="B1", ref_id=1, debit_id=debit,
                  credit_id=credit, amount=2520, now=utcnow())
    entry = db.session.execute(sa.text("SELECT id, kind, memo, ref_type, ref_id, booked_at FROM journal_entries "
                                       "WHERE idempotency_key = 'bench:test:1'")).one()
    assert (entry.kind, entry.memo, entry.ref_type, entry.ref_id) == ("bench_order", "B1", "bench", 1)
    assert entry.booked_at is not None
    postings = db.session.execute(sa.text("SELECT account_id, amount_fen FROM postings WHERE entry_id = :e "
                                          "ORDER BY amount_fen DESC"), {"e": entry.id}).all()
    assert [tuple(p) for p in postings] == [(debit, 2520), (credit, -2520)]
