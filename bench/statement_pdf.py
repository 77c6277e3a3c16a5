"""A 10,000-line statement to PDF; prints one JSON object.

    .venv/bin/python bench/statement_pdf.py [--lines 10000] [--no-baseline]

A fresh SQLite file in a temporary directory (or DATABASE_URL, whose database is WIPED) is migrated, and one
reseller gets N postings on its balance account in October 2025 (inserted in bulk; not timed). Then the clock
runs on `statements.generate`, the body of the `documents` job, phase by phase from its progress reports:
`lines` (the statement's lines with running balances, hash, totals), `pdf` (the app's chunked WeasyPrint
rendering: pages of a known number of rows, up to STATEMENT_PDF_PROCESSES processes, joined with pypdf),
`xlsx`. Peak memory is the largest sum of the RSS of this process and its children (the rendering
processes), sampled every 20 ms.

Baseline, in the same run: the same statement as ONE HTML document (every page's section, the same template
and CSS) rendered by the `weasyprint` command line, timed, with its peak RSS sampled the same way. (A figure
published for a 10,000-row table is 108 s and 3 GB; the aim here is under 60 s and 1 GB.) Afterwards: the
app's PDF has as many pages as the layout says, and the statement's closing balance equals the ledger's.

Exit 0 only if nothing in the report fails (bench/verdict.py, bench/README.md): the check, the baseline's exit
code and pages, and every figure it must print (required() below).
"""

import argparse
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench import verdict  # noqa: E402


class PeakRss:
    """The largest RSS sum of a process and its descendants, sampled in a thread."""

    def __init__(self, pid: int):
        self.proc, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                pass
            self._stop.wait(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def mb(n: int) -> float:
    return round(n / 2**20, 1)


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench/statement_pdf.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=10_000, help="statement lines, default 10000")
    ap.add_argument("--no-baseline", action="store_true", help="skip the weasyprint command-line baseline")
    ap.add_argument("--save", metavar="DIR", help="write the app's PDF and XLSX there, to look at")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)

    tmp = Path(tempfile.mkdtemp(prefix="quanyi-bench-statement-"))
    os.environ["QUANYI_INSTANCE"] = str(tmp / "instance")  # read when `app` is first imported
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.db'}"
    from bench.checkout import sandbox_keys

    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench", "QUANYI_MASTER_KEY": "0" * 64,
           "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:1/0"), **sandbox_keys()}
    if url.startswith("postgresql"):
        from bench.checkout import reset_schema
        from bench.fulfilment import ensure_database

        ensure_database(url)
        reset_schema(url, env)
    else:
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        if done.returncode:
            raise SystemExit(f"db upgrade failed:\n{done.stderr}")
    from bench.checkout import make_app

    app = make_app(env)
    try:
        with app.app_context():
            result = run(app, args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    verdict.finish("statement_pdf", result, required(args))


def required(args) -> tuple[str, ...]:
    """The figures statement_pdf must print (the baseline's unless --no-baseline)."""
    figures = ("lines", "pages", "app.total_s", "app.lines_s", "app.pdf_s", "app.xlsx_s", "app.peak_rss_mb",
               "check.ok")
    if args.no_baseline:
        return figures
    return (*figures, "baseline_weasyprint_cli.total_s", "baseline_weasyprint_cli.peak_rss_mb",
            "baseline_weasyprint_cli.pages", "app_vs_cli.time", "app_vs_cli.memory")


def seed(n: int) -> tuple:
    from app.accounts import services as accounts
    from app.accounts.models import OrgKind, Role
    from app.channels.models import Reseller
    from app.extensions import db
    from app.ledger import services as ledger
    from app.ledger.models import JournalEntry, Posting

    org = accounts.get_or_create_org("星辰数码科技有限公司", OrgKind.reseller)
    accounts.create_user("shop@bench.example", "secret-pass-1", role=Role.reseller, organization=org)
    reseller = Reseller(organization_id=org.id)
    db.session.add(reseller)
    maker = accounts.create_user("maker@bench.example", "secret-pass-1", role=Role.finance)
    db.session.commit()
    code = ledger.sub_account("2204", "reseller", reseller.id)
    acc, other = ledger.account(code).id, ledger.account("2203").id
    ledger.post("reseller_topup", [("1002", 10_000_000_00), (code, -10_000_000_00)], key="bench-top",
                booked_at=datetime(2025, 9, 30, 15))
    db.session.commit()
    start = datetime(2025, 9, 30, 16)  # 2025-10-01 00:00 in Shanghai
    step = timedelta(days=30) / n
    entries = [{"kind": "wholesale_order", "memo": f"WO2025{i:08d} 腾讯视频 VIP 月卡 ×{i % 9 + 1}",
                "idempotency_key": f"bench-{i}", "created_at": start + i * step, "booked_at": start + i * step}
               for i in range(n)]
    for chunk in range(0, n, 2000):
        db.session.execute(sa.insert(JournalEntry), entries[chunk:chunk + 2000])
    ids = db.session.scalars(sa.select(JournalEntry.id).where(JournalEntry.idempotency_key.like("bench-%"))
                             .order_by(JournalEntry.id)).all()
    rows = []
    for i, entry_id in enumerate(ids):
        amount = (i % 997 + 1) * 100 + 50
        rows += [{"entry_id": entry_id, "account_id": acc, "amount_fen": amount},
                 {"entry_id": entry_id, "account_id": other, "amount_fen": -amount}]
    for chunk in range(0, len(rows), 5000):
        db.session.execute(sa.insert(Posting), rows[chunk:chunk + 5000])
    db.session.commit()
    return reseller.id, maker


def run(app, args, tmp: Path) -> dict:
    from pypdf import PdfReader

    from app.extensions import db
    from app.finance import statement_files, statements
    from app.ledger import services as ledger

    t = time.perf_counter()
    reseller_id, maker = seed(args.lines)
    seed_s = time.perf_counter() - t
    statements.enqueue = lambda statement_id: None  # no worker here: the job's body is called below
    st = statements.request(maker, "reseller", reseller_id, date(2025, 10, 1), date(2025, 10, 31))
    marks = {}

    def progress(pct: int) -> None:
        marks.setdefault(pct, time.perf_counter())

    with PeakRss(os.getpid()) as peak:
        t0 = time.perf_counter()
        st = statements.generate(st.id, progress=progress)
        total = time.perf_counter() - t0
    phases = {"lines": marks[70] - t0, "pdf": marks[95] - marks[70], "xlsx": marks[100] - marks[95]}
    pdf = statements.file(st, "pdf").content
    if args.save:
        Path(args.save).mkdir(parents=True, exist_ok=True)
        for fmt in ("pdf", "xlsx"):
            (Path(args.save) / statements.filename(st, fmt)).write_bytes(statements.file(st, fmt).content)
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    check = {"pages_as_laid_out": pages == len(statement_files.layout(st.line_count)),
             "lines_as_seeded": st.line_count == args.lines,
             "closing_equals_ledger": st.closing_fen == -ledger.balance(st.account_code),
             "xlsx_written": bool(statements.file(st, "xlsx").content)}
    check["ok"] = all(check.values())
    out = {"lines": st.line_count, "pages": pages, "seed_s": round(seed_s, 1), "check": check,
           "app": {"total_s": round(total, 1), **{f"{k}_s": round(v, 1) for k, v in phases.items()},
                   "peak_rss_mb": mb(peak.peak), "pdf_kb": len(pdf) // 1024,
                   "processes": statement_files.processes(), "chunk_pages": statement_files.CHUNK_PAGES}}
    if not args.no_baseline:
        statement_files.CHUNK_PAGES = 10**9  # the whole statement as one HTML document
        lines = statements.lines(st)
        html, _n = next(statement_files.chunk_html(st, lines))
        src, dst = tmp / "statement.html", tmp / "statement-cli.pdf"
        src.write_text(html, encoding="utf-8")
        cli = Path(sys.executable).with_name("weasyprint")
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(cli), str(src), str(dst)], stderr=subprocess.DEVNULL)
        with PeakRss(proc.pid) as cpeak:
            proc.wait()
        out["baseline_weasyprint_cli"] = {"total_s": round(time.perf_counter() - t0, 1), "peak_rss_mb": mb(cpeak.peak),
                                          "exit": proc.returncode,
                                          "pages": len(PdfReader(str(dst)).pages) if proc.returncode == 0 else None}
        a, b = out["app"], out["baseline_weasyprint_cli"]
        out["app_vs_cli"] = {"time": round(a["pdf_s"] / b["total_s"], 2) if b["total_s"] else None,
                             "memory": round(a["peak_rss_mb"] / b["peak_rss_mb"], 2) if b["peak_rss_mb"] else None}
    db.session.remove()
    return out


if __name__ == "__main__":
    main()
