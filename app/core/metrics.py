"""The app's event metrics (Prometheus, docs/operations.md "Metrics"): counters and histograms moved where the
event happens. What lives in the database or in Redis (stock, backlogs, queue depths, workers) is read when
Prometheus scrapes, by the collector in app/insight/metrics.py, not kept here.

Under gunicorn and RQ each process writes its values into PROMETHEUS_MULTIPROC_DIR (prometheus-client's
multiprocess mode) and a scrape adds them up; without that variable they live in this process's registry."""

from prometheus_client import Counter, Histogram
from sqlalchemy.orm import Session

from app.core.hooks import after_commit

REQUESTS = Counter("quanyi_http_requests_total", "HTTP requests answered, by Flask endpoint, method and status class.",
                   ["endpoint", "method", "status"])
REQUEST_SECONDS = Histogram("quanyi_http_request_duration_seconds", "Time to answer an HTTP request, by endpoint.",
                            ["endpoint", "method"])
JOB_SECONDS = Histogram("quanyi_job_duration_seconds", "Time an RQ worker spent on a job, by queue.", ["queue"],
                        buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900))
JOBS = Counter("quanyi_jobs_total", "Jobs an RQ worker finished, by queue and result (finished, failed).",
               ["queue", "result"])
PAYMENT_NOTICES = Counter("quanyi_payment_notices_total", "Payment gateway notifications handled, by result.",
                          ["result"])
DELIVERIES = Counter("quanyi_deliveries_total",
                     "Units whose delivery ended (delivered, failed) or was put back for a retry, by supplier "
                     "(\"stock\" for codes from our own stock).", ["outcome", "supplier"])

#: The results handle_notification returns; anything else (a gateway's refusal reason) counts as "rejected",
#: so the label keeps a handful of values whatever a caller sends.
NOTICE_RESULTS = frozenset({"applied", "refunding", "duplicate", "unknown_order", "ignored_status",
                            "amount_mismatch", "currency_mismatch"})


def count_notice(result: str) -> None:
    PAYMENT_NOTICES.labels(result if result in NOTICE_RESULTS else "rejected").inc()


def count_delivery(session: Session, outcome: str, supplier: str, units: int = 1) -> None:
    """Count `units` ending so once the transaction that decided it commits (a rolled-back attempt counts
    nothing; the retry that follows counts itself)."""
    child = DELIVERIES.labels(outcome, supplier)
    after_commit(session, lambda: child.inc(units))


def status_class(code: int) -> str:
    return f"{code // 100}xx"
