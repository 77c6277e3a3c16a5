"""prometheus-client's multiprocess mode for real: a `quanyi worker --burst` process (forking a work-horse per
job, or not) and two web processes write into one PROMETHEUS_MULTIPROC_DIR, and a scrape in either web process
adds them all up."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.accounts.models import User
from app.extensions import db
from app.fulfilment.models import Delivery
from app.orders import services as orders
from app.queues import queue
from app.suppliers.models import Supplier
from tests.support.fulfilment import pay
from tests.support.jobs import run_burst_worker
from tests.support.processes import ROOT, free_port, wait_http, worker_env

TOKEN = "multiprocess-metrics-token"

#: One web process: two requests, then a scrape; prints its pid, then what the scrape answered.
WEB = f"""
import os
from wsgi import app
client = app.test_client()
for _ in range(2):
    assert client.get("/login").status_code == 200
resp = client.get("/metrics", headers={{"Authorization": "Bearer {TOKEN}"}})
assert resp.status_code == 200, resp.status_code
print(os.getpid())
print(resp.get_data(as_text=True))
"""


def web_process(env: dict) -> tuple[str, dict]:
    proc = subprocess.run([sys.executable, "-c", WEB], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    pid, _, text = proc.stdout.partition("\n")
    return pid.strip(), {(s.name, frozenset(s.labels.items())): s.value
                         for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.slow
@pytest.mark.committed
@pytest.mark.parametrize("flags", [[], ["--no-fork"]])
def test_worker_and_web_processes_add_up(app, tmp_path, make_user, make_sku, make_supplier, map_sku,
                                         supplier_sandbox, flags):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    with app.app_context():
        for name in ("fulfilment", "maintenance"):
            queue(name).empty()
        sup = make_supplier()
        code = db.session.get(Supplier, sup).code
        sku_id = make_sku(price="49.50", face="50.00", type_="direct_topup", source="supplier",
                          account_format="mobile")
        map_sku(sku_id, sup, "topup-mobile-50", cost=4800)
        buyer = db.session.get(User, make_user("consumer"))
        for n in range(2):  # two orders, two delivery jobs, two work-horses when the worker forks
            assert pay(orders.create_retail_order(buyer, sku_id, 1, accounts={"mobile": f"1380013800{n}"})) \
                == "applied"
        queue("maintenance").enqueue("builtins.int", "not a number")  # a job that fails
    run_burst_worker(app, *flags, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    with app.app_context():
        assert [d.status for d in db.session.query(Delivery).all()] == ["delivered", "delivered"]

    env = worker_env(app) | {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "METRICS_TOKEN": TOKEN}
    first_pid, _ = web_process(env)
    second_pid, samples = web_process(env)

    # The worker's jobs, and the deliveries its jobs made (in the work-horses when it forks).
    assert value(samples, "quanyi_jobs_total", queue="fulfilment", result="finished") == 2
    assert value(samples, "quanyi_jobs_total", queue="maintenance", result="failed") == 1
    assert value(samples, "quanyi_job_duration_seconds_count", queue="fulfilment") == 2
    assert value(samples, "quanyi_deliveries_total", outcome="delivered", supplier=code) == 2
    # Both web processes' requests: two logins each, and the first one's scrape.
    assert value(samples, "quanyi_http_requests_total", endpoint="auth.login", method="GET", status="2xx") == 4
    assert value(samples, "quanyi_http_requests_total", endpoint="metrics.scrape", method="GET", status="2xx") == 1
    # Read at scrape time, the same from any process.
    assert value(samples, "quanyi_queue_failed_jobs", queue="maintenance") == 1

    # One file set per worker process, and one for all its work-horses together: not a file per job.
    tags = {Path(f).stem.split("_", 1)[1] for f in os.listdir(metrics_dir)}
    worker_tags = tags - {first_pid, second_pid}
    assert len(worker_tags) == (1 if flags else 2), tags
    if not flags:
        assert any(t.endswith("-horse") for t in worker_tags)
    with app.app_context():
        from rq.registry import FailedJobRegistry

        registry = FailedJobRegistry(queue=queue("maintenance"))
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)


@pytest.mark.slow
@pytest.mark.committed
def test_a_worker_serves_its_own_metrics_on_a_port(app, tmp_path):
    """A worker on a machine with no web process: `quanyi worker --metrics-port`."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    port = free_port()
    with app.app_context():
        queue("maintenance").empty()
    env = worker_env(app) | {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--no-cron",
                             "--metrics-port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_http(url, timeout=60)
        with app.app_context():
            queue("maintenance").enqueue("builtins.len", "abc")
        deadline = time.monotonic() + 60
        done = 0.0
        while done < 1 and time.monotonic() < deadline:
            samples = {(s.name, frozenset(s.labels.items())): s.value
                       for family in text_string_to_metric_families(httpx.get(url, timeout=5).text)
                       for s in family.samples}
            done = value(samples, "quanyi_jobs_total", queue="maintenance", result="finished")
            time.sleep(0.2)  # the job runs in the worker process; its counter is what we wait on
        assert done == 1
    finally:
        proc.terminate()
        proc.wait(30)
