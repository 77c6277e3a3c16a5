"""Pieces of bench/fulfilment.py: seeding paid top-up orders, reading back what the workers did, checking
the sandbox supplier's own record, and the bare supplier loop it is compared with.

Everything that touches the database runs inside the caller's app context.
"""

import re
import secrets
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
import sqlalchemy as sa

PRODUCT_ID = "topup-bench"
PASSWORD = "bench-pass-1"
_RETRY_SUFFIX = re.compile(r"-r\d+$")


def quantiles(samples: list[float]) -> dict:
    """p50 / p95 / max in seconds (3 decimals); empty dict for no samples."""
    if not samples:
        return {}
    ordered = sorted(samples)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50_s": round(at(0.5), 3), "p95_s": round(at(0.95), 3), "max_s": round(ordered[-1], 3)}


def account(i: int) -> str:
    """A valid mainland mobile number per unit (the sandbox rejects only accounts starting with 000)."""
    return f"139{i:08d}"


# --- seeding ---------------------------------------------------------------------------------------------

def seed_common(supplier_url: str, supplier_key: str) -> tuple[int, int]:
    """The buyer and the supplier row pointing at the sandbox: (user id, supplier id)."""
    from app.accounts import services as accounts
    from app.suppliers import services as suppliers

    user = accounts.create_user("topup-buyer@bench.example", PASSWORD)
    supplier = suppliers.save_supplier(None, code="bench-sandbox", name="基准 沙箱供应商", adapter="signed_json",
                                       base_url=supplier_url, partner_id="quanyi", key=supplier_key)
    return user.id, supplier.id


def add_topup_sku(code: str, supplier_id: int) -> int:
    """A direct_topup SKU (source supplier, account format mobile) mapped to PRODUCT_ID on the supplier."""
    from app.catalog import services as catalog
    from app.catalog.models import AccountFormat, SkuSource
    from app.extensions import db
    from app.suppliers import services as suppliers

    sku = catalog.add_sku(None, code, name=f"基准 话费直充 {code}", type="direct_topup", face_value_fen=3000,
                          price_fen=2980, brand="中国移动", category="other")
    if sku.source != SkuSource.supplier or sku.account_format != AccountFormat.mobile:
        sku.source, sku.account_format = SkuSource.supplier, AccountFormat.mobile
        db.session.commit()
    suppliers.save_mapping(None, supplier_id=supplier_id, sku_id=sku.id, product_id=PRODUCT_ID, cost_fen=2900)
    return sku.id


def _notice(out_trade_no: str, amount_fen: int, key: str, merchant: str) -> dict:
    """A SUCCESS notification signed as the sandbox gateway signs it (cf. tests/support/payments.py)."""
    from app.core.money import yuan
    from app.payments.gateway import sign

    fields = {"notify_id": "N" + secrets.token_hex(8), "merchant_id": merchant, "out_trade_no": out_trade_no,
              "trade_no": "T" + secrets.token_hex(6), "amount": yuan(amount_fen), "currency": "CNY",
              "trade_status": "SUCCESS", "timestamp": str(int(time.time()))}
    fields["sign"] = sign(fields, key)
    return fields


def seed_orders(user_id: int, sku_id: int, n: int, first_account: int, progress=None) -> None:
    """`n` paid orders of one unit each, through the real services: create_retail_order (validates the
    account), then a signed payment notice, whose handler runs fulfilment.start and enqueues the delivery
    job on the `fulfilment` queue after commit."""
    from flask import current_app

    from app.accounts.models import User
    from app.extensions import db
    from app.orders import services as orders
    from app.payments import services as payments

    cfg = current_app.config
    user = db.session.get(User, user_id)
    for i in range(n):
        order = orders.create_retail_order(user, sku_id, 1, {"mobile": account(first_account + i)})
        outcome = payments.handle_notification(_notice(order.order_no, order.amount_fen, cfg["PAYGATE_KEY"],
                                                       cfg["PAYGATE_MERCHANT_ID"]))
        if outcome != "applied":
            raise RuntimeError(f"order {order.order_no}: payment notice {outcome}")
        if progress and (i + 1) % 200 == 0:
            progress(i + 1)


def queue_lengths() -> dict[str, int]:
    from app.queues import QUEUES, queue

    return {name: n for name in QUEUES if (n := len(queue(name)))}


# --- reading back ----------------------------------------------------------------------------------------

def delivery_counts(sku_id: int) -> dict[str, int]:
    from app.extensions import db
    from app.fulfilment.models import Delivery

    rows = db.session.execute(sa.select(Delivery.status, sa.func.count()).where(Delivery.sku_id == sku_id)
                              .group_by(Delivery.status)).all()
    db.session.rollback()
    return {str(s): c for s, c in rows}


def deliveries(sku_id: int) -> list[dict]:
    from app.extensions import db
    from app.fulfilment.models import Delivery, DeliveryAttempt

    attempts = sa.select(sa.func.count()).where(DeliveryAttempt.delivery_id == Delivery.id).scalar_subquery()
    rows = db.session.execute(
        sa.select(Delivery.key, Delivery.out_order_no, Delivery.account, Delivery.status, Delivery.created_at,
                  Delivery.delivered_at, Delivery.attempts, attempts.label("attempt_rows"))
        .where(Delivery.sku_id == sku_id)).all()
    db.session.rollback()
    return [r._asdict() for r in rows]


def rq_job_times(queue_name: str = "fulfilment") -> dict:
    """Per job: started_at → ended_at as RQ recorded it (inside the work horse, or the worker for
    SimpleWorker), for the jobs still in the finished registry; and the failed-job count."""
    from rq.job import Job
    from rq.registry import FailedJobRegistry, FinishedJobRegistry

    from app.queues import connection, queue

    q = queue(queue_name)
    ids = FinishedJobRegistry(queue=q).get_job_ids()
    runs = [(j.ended_at - j.started_at).total_seconds() for j in Job.fetch_many(ids, connection=connection())
            if j is not None and j.started_at and j.ended_at]
    return {"finished": len(ids), "failed": FailedJobRegistry(queue=q).count,
            "mean_s": round(statistics.fmean(runs), 4) if runs else None, **quantiles(runs)}


def clear_finished(queue_name: str = "fulfilment") -> None:
    """Forget finished jobs, so the next batch's job times are its own."""
    from rq.registry import FinishedJobRegistry

    from app.queues import queue

    registry = FinishedJobRegistry(queue=queue(queue_name))
    for job_id in registry.get_job_ids():
        registry.remove(job_id, delete_job=True)


def batch_report(rows: list[dict], started: datetime, seconds: float, topups: list[dict]) -> dict:
    """What the workers achieved for one batch, from the database and the sandbox's record of top-ups."""
    n = len(rows)
    done = [r for r in rows if r["status"] == "delivered"]
    at = sorted(r["delivered_at"] for r in done)
    span = (at[-1] - at[0]).total_seconds() if len(at) > 1 else 0.0
    lat = quantiles([(r["delivered_at"] - r["created_at"]).total_seconds() for r in done])
    return {
        "delivered": len(done),
        "failures": n - len(done),
        "by_status": dict(sorted({s: sum(r["status"] == s for r in rows) for s in {r["status"] for r in rows}}
                                 .items())),
        "seconds": round(seconds, 3),
        "topups_per_s": round(len(done) / seconds, 2) if seconds else None,
        # from the first to the last delivered_at: the rate once the workers are up
        "steady_topups_per_s": round((len(done) - 1) / span, 2) if span else None,
        "startup_s": round((at[0] - started).total_seconds(), 3) if at else None,
        "p50_s": lat.get("p50_s"), "p95_s": lat.get("p95_s"), "max_s": lat.get("max_s"),
        "retried_deliveries": sum(1 for r in rows if r["attempts"]),
        "attempt_rows": sum(r["attempt_rows"] for r in rows),
        **exactly_once(rows, topups),
    }


def exactly_once(rows: list[dict], topups: list[dict]) -> dict:
    """Every delivered row topped up exactly once (under its key, whatever retry suffix), to its account;
    nothing topped up for a row that is not delivered."""
    by_key: dict[str, list[dict]] = {}
    for t in topups:
        by_key.setdefault(_RETRY_SUFFIX.sub("", t["out_order_no"]), []).append(t)
    missing = duplicated = wrong_account = extra = 0
    for r in rows:
        got = by_key.get(r["key"], [])
        if r["status"] != "delivered":
            extra += len(got)
            continue
        missing += not got
        duplicated += len(got) > 1
        wrong_account += any(t["account"] != r["account"] for t in got)
    return {"exactly_once": not (missing or duplicated or wrong_account or extra),
            "sandbox_topups": sum(len(by_key.get(r["key"], [])) for r in rows),
            "missing_topups": missing, "duplicated_topups": duplicated, "wrong_account": wrong_account,
            "topups_for_undelivered": extra}


def sandbox_topups(url: str) -> list[dict]:
    resp = httpx.get(url.rstrip("/") + "/_sandbox/topups", timeout=30)
    resp.raise_for_status()
    return resp.json()


# --- the bare loop ---------------------------------------------------------------------------------------

def bare_loop(adapter, n: int, threads: int, prefix: str, first_account: int, callback_url: str) -> dict:
    """`n` top-ups straight through the adapter, no app, no database, no queue; `threads` at a time."""
    from app.suppliers.adapters import Verdict

    lock = threading.Lock()
    latencies: list[float] = []
    bad: dict[str, int] = {}

    def call(i: int) -> None:
        t = time.perf_counter()
        outcome = adapter.topup(f"{prefix}-{i:06d}", PRODUCT_ID, account(first_account + i), callback_url)
        took = time.perf_counter() - t
        with lock:
            latencies.append(took)
            if outcome.verdict != Verdict.delivered:
                kind = f"{outcome.verdict}: {outcome.detail}"[:80]
                bad[kind] = bad.get(kind, 0) + 1

    cpu, t0 = time.process_time(), time.perf_counter()
    if threads == 1:
        for i in range(n):
            call(i)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(call, range(n)))
    seconds = time.perf_counter() - t0
    return {"calls": n, "threads": threads, "seconds": round(seconds, 3),
            "calls_per_s": round((n - sum(bad.values())) / seconds, 2), "failures": sum(bad.values()),
            "failure_kinds": bad, "call_p50_s": quantiles(latencies).get("p50_s"),
            "call_p95_s": quantiles(latencies).get("p95_s"),
            "cpu_s_bench_process": round(time.process_time() - cpu, 2)}
