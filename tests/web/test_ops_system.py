"""The ops system page: workers, queue depths, failed jobs (requeue and delete, audited; a wrong id changes
nothing), scheduled jobs, the periodic jobs' last runs as the worker records them; only ops gets in."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from rq import Worker
from rq.job import Job

from app.cli.worker import InProcessWorker
from app.core import periodic_runs
from app.core.models import AuditLog
from app.extensions import db
from app.queues import connection, queue
from tests.support.jobs import clear_queues, fail_jobs, fail_loudly, run_burst_worker


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture(autouse=True)
def _empty_queues(app):
    clear_queues(app)
    with app.app_context():
        conn = connection()
        for key in conn.scan_iter(periodic_runs.KEY.format("*")):
            conn.delete(key)
    yield
    clear_queues(app)


def audit_rows(app, action: str) -> list[AuditLog]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action)))


def test_ops_sees_a_failed_job_with_its_error_but_not_its_arguments(app, client, login_as):
    [job_id] = fail_jobs(app, args=("CODE-7731-SECRET", "13800001111"))
    login_as("ops")
    page = text(client.get("/ops/system"))
    assert "系统" in page and 'id="system-link"' in page
    assert f'data-job="{job_id}"' in page and "tests.support.jobs.fail_loudly" in page
    assert "RuntimeError: the supplier answered 502" in page and "in fail_loudly" in page and 'id="failed-total">1 个失败的任务' in page
    assert "CODE-7731-SECRET" not in page and "13800001111" not in page
    assert 'data-queue="default"' in page and 'id="no-workers"' in page


def test_requeue_puts_the_job_back_in_its_queue_and_is_audited(app, client, login_as):
    [job_id] = fail_jobs(app)
    ops_id = login_as("ops")
    resp = client.post(f"/ops/system/failed/{job_id}/requeue")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/ops/system?page=1#failed")
    page = text(client.get("/ops/system"))
    assert f"任务 {job_id} 已回到队列。" in page and f'data-job="{job_id}"' not in page and 'id="no-failed"' in page
    with app.app_context():
        assert job_id in queue("default").job_ids and job_id not in queue("default").failed_job_registry
    [row] = audit_rows(app, "system.job_requeued")
    assert row.actor_id == ops_id and row.detail == {"job_id": job_id, "queue": "default",
                                                     "function": "tests.support.jobs.fail_loudly"}


def test_delete_removes_the_job_for_good_and_is_audited(app, client, login_as):
    job_id, other = fail_jobs(app, 2)
    ops_id = login_as("ops")
    assert client.post(f"/ops/system/failed/{job_id}/delete").status_code == 303
    page = text(client.get("/ops/system"))
    assert f"任务 {job_id} 已删除。" in page and f'data-job="{job_id}"' not in page and f'data-job="{other}"' in page
    with app.app_context():
        assert not Job.exists(job_id, connection=connection())
        assert job_id not in queue("default").job_ids
    [row] = audit_rows(app, "system.job_deleted")
    assert row.actor_id == ops_id and row.detail["job_id"] == job_id


@pytest.mark.parametrize("action", ["requeue", "delete"])
def test_an_id_that_is_not_a_failed_job_changes_nothing(app, client, login_as, action):
    [failed_id] = fail_jobs(app)
    with app.app_context():
        waiting_id = queue("default").enqueue(fail_loudly).id
    login_as("ops")
    for bad in ("no-such-job", waiting_id, "x" * 300):
        resp = client.post(f"/ops/system/failed/{bad}/{action}", follow_redirects=True)
        assert "没有失败的任务" in text(resp)
    assert client.post(f"/ops/system/failed/{failed_id}/{action}").status_code == 303
    again = text(client.post(f"/ops/system/failed/{failed_id}/{action}", follow_redirects=True))
    assert f"没有失败的任务 {failed_id}" in again
    with app.app_context():
        assert queue("default").job_ids.count(waiting_id) == 1 and Job.exists(waiting_id, connection=connection())
    assert len(audit_rows(app, f"system.job_{'requeued' if action == 'requeue' else 'deleted'}")) == 1


def test_failed_jobs_are_paged_and_filtered_by_queue(app, client, login_as):
    fail_jobs(app, 23)
    [other] = fail_jobs(app, 1, "callbacks")
    login_as("ops")
    first = text(client.get("/ops/system"))
    assert 'id="failed-total">24 个失败的任务' in first and first.count('<tr data-job="') == 20
    assert f'data-job="{other}"' in first  # the latest first, whatever its queue
    second = text(client.get("/ops/system?page=2&part=failed", headers={"HX-Request": "true"}))
    assert second.count('<tr data-job="') == 4 and "<html" not in second
    only = text(client.get("/ops/system?queue=callbacks&part=failed", headers={"HX-Request": "true"}))
    assert only.count('<tr data-job="') == 1 and f'data-job="{other}"' in only


def test_workers_queues_and_scheduled_jobs(app, client, login_as):
    with app.app_context():
        conn = connection()
        for _ in range(3):
            queue("imports").enqueue(fail_loudly)
        later = queue("documents").enqueue_in(timedelta(hours=2), fail_loudly).id
        worker = Worker([queue("fulfilment"), queue("callbacks")], connection=conn, name="quanyi-test-worker")
        worker.register_birth()
    try:
        client.post("/lang/en")
        login_as("ops")
        page = text(client.get("/ops/system"))
    finally:
        with app.app_context():
            worker.register_death()
    assert "System" in page and "Failed jobs" in page and 'id="no-workers"' not in page
    assert 'data-worker="quanyi-test-worker"' in page and ">fulfilment</span> <span class=\"tag is-light\">callbacks<" in page
    assert '<tr data-queue="imports">\n    <td class="is-family-monospace">imports</td><td class="has-text-right queued">3</td>' in page
    assert f'data-job="{later}"' in page and 'id="scheduled-total">1 job scheduled for later' in page


def test_the_worker_records_each_periodic_jobs_last_run(app, client, login_as, monkeypatch):
    with app.app_context():
        queue("callbacks").enqueue("jobs.callbacks.sweep")
        InProcessWorker([queue("callbacks")], connection=connection()).work(burst=True)
    # a periodic job that fails is recorded too (a test job stands in for one of the list)
    monkeypatch.setattr(InProcessWorker, "_periodic_names", frozenset({"tests.support.jobs.fail_loudly"}))
    with app.app_context():
        queue("default").enqueue(fail_loudly)
        InProcessWorker([queue("default")], connection=connection()).work(burst=True)
        runs = periodic_runs.last_runs(connection(), ["jobs.callbacks.sweep", "tests.support.jobs.fail_loudly"])
    sweep, failed = runs["jobs.callbacks.sweep"], runs["tests.support.jobs.fail_loudly"]
    assert sweep["ok"] and sweep["summary"] == "0" and sweep["duration_ms"] >= 0 and sweep["running_since"] is None
    assert sweep["finished_at"] >= sweep["started_at"]
    assert not failed["ok"] and failed["summary"] == "RuntimeError: the supplier answered 502"
    login_as("ops")
    page = text(client.get("/ops/system"))
    row = page[page.index('<tr data-periodic="jobs.callbacks.sweep">'):]
    row = row[:row.index("</tr>")]
    assert "成功" in row and '<td class="is-size-7 summary">0</td>' in row and "30秒" in row
    next_at = (sweep["started_at"] + timedelta(seconds=30)).astimezone(ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"]))
    assert next_at.strftime("%Y-%m-%d %H:%M:%S") in row
    never = page[page.index('<tr data-periodic="jobs.fulfilment.replenish">'):]
    assert "尚未运行" in never[:never.index("</tr>")]


@pytest.mark.slow
@pytest.mark.committed
def test_the_forking_worker_records_a_periodic_run(app):
    with app.app_context():
        queue("fulfilment").enqueue("jobs.fulfilment.sweep")
    run_burst_worker(app, "--no-cron")
    with app.app_context():
        run = periodic_runs.last_runs(connection(), ["jobs.fulfilment.sweep"])["jobs.fulfilment.sweep"]
    assert run["ok"] and run["summary"] == "0", run


@pytest.mark.parametrize("role", ["consumer", "reseller", "finance", "service", "admin"])
def test_only_ops_reaches_the_system_page(app, client, login_as, role):
    [job_id] = fail_jobs(app)
    login_as(role)
    assert client.get("/ops/system").status_code == 403
    assert client.post(f"/ops/system/failed/{job_id}/requeue").status_code == 403
    assert client.post(f"/ops/system/failed/{job_id}/delete").status_code == 403
    with app.app_context():
        assert job_id in queue("default").failed_job_registry
    assert audit_rows(app, "system.job_requeued") == [] and audit_rows(app, "system.job_deleted") == []


def test_the_error_shown_is_where_and_what_never_the_statements_parameters():
    from app.core.system import error_tail, exception_line

    exc = ('Traceback (most recent call last):\n  File "/srv/quanyi/app/inventory/imports.py", line 88, in claim\n'
           '    db.session.flush()\nsqlalchemy.exc.IntegrityError: (psycopg.errors.UniqueViolation) duplicate key\n'
           "[SQL: INSERT INTO codes (cipher) VALUES (%(cipher)s)]\n[parameters: {'cipher': 'CODE-SECRET-1'}]\n"
           "(Background on this error at: https://sqlalche.me/e/21/gkpj)")
    tail = error_tail(exc)
    assert tail.startswith('File "/srv/quanyi/app/inventory/imports.py", line 88, in claim\n')
    assert "UniqueViolation) duplicate key" in tail and "CODE-SECRET-1" not in tail and "parameters" not in tail
    assert exception_line(exc) == "sqlalchemy.exc.IntegrityError: (psycopg.errors.UniqueViolation) duplicate key"


def test_thousands_of_failed_jobs_cost_one_page(app, client, login_as, monkeypatch):
    """Only the page's jobs are fetched, however many failed: the registries are read by rank."""
    with app.app_context():
        conn, registry = connection(), queue("imports").failed_job_registry
        with conn.pipeline() as pipe:
            for _ in range(2000):
                job = Job.create(fail_loudly, connection=conn, origin="imports")
                job.save(pipeline=pipe)
                registry.add(job, ttl=3600, pipeline=pipe)
            pipe.execute()
    fetched = []
    real = Job.fetch_many
    monkeypatch.setattr(Job, "fetch_many", classmethod(lambda cls, ids, **kw: fetched.append(len(ids))
                                                       or real(ids, **kw)))
    login_as("ops")
    page = text(client.get("/ops/system?page=37&queue=imports&part=failed", headers={"HX-Request": "true"}))
    assert 'id="failed-total">2000 个失败的任务' in page and page.count('<tr data-job="') == 20
    assert "第 37 / 100 页" in page and fetched == [20]
