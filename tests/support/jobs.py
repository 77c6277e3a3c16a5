"""Jobs performed in the test process (a thread that takes them off a real RQ queue, as a worker would), or by a
real `quanyi worker --burst` process."""

import contextlib
import subprocess
import sys
import threading

from app import logs
from app.extensions import db
from tests.support.processes import ROOT, worker_env


class IssuanceWorker:
    """Takes jobs off the "issuance" queue (or another) in a thread of the test process and performs them, each
    in a fresh app context of the session app (the job reuses it), as the RQ worker would."""

    TICK = 0.2

    def __init__(self, app, queue_name: str = "issuance"):
        self.app, self.queue_name = app, queue_name
        self.errors: list[str] = []
        self.done: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from app.queues import queue

        with self.app.app_context():
            queue(self.queue_name).empty()  # nothing left over from another test
        self._thread = threading.Thread(target=self._run, name="e2e-issuance-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
            assert not self._thread.is_alive(), f"the {self.queue_name} worker did not stop"

    def _run(self) -> None:
        from rq import Queue

        from app.queues import queue

        while not self._stop.wait(self.TICK):
            try:
                with self.app.app_context():
                    q = queue(self.queue_name)
                    got = Queue.dequeue_any([q], None, connection=q.connection)
                    if got is None:
                        continue
                    job, _ = got
                    with logs.job_context(job):  # as the worker does (app/cli/worker.py)
                        self.done.append(job.perform())
                    db.session.remove()
            except Exception as e:  # reported at teardown: a thread's exception would go unnoticed
                self.errors.append(f"{type(e).__name__}: {e}")


@contextlib.contextmanager
def worker_running(app, queue_name: str):
    """An IssuanceWorker on `queue_name` for the length of the block; its failures fail the test."""
    worker = IssuanceWorker(app, queue_name)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
    assert not worker.errors, f"the {queue_name} worker failed: {worker.errors}"


def run_burst_worker(app, *flags: str, **env: str) -> subprocess.CompletedProcess:
    """`quanyi worker --burst` on the test app's database and Redis (with `env` added), until the queues are
    empty; the test fails if it does not exit cleanly."""
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst", *flags], cwd=ROOT,
                          env=worker_env(app) | env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def fail_loudly(*args, **kwargs) -> None:
    """A job that fails for real (its arguments stand for what a job may carry; they are never shown)."""
    raise RuntimeError("the supplier answered 502")


def clear_queues(app) -> None:
    """Every queue of the app empty, with no failed, scheduled or started jobs left from another test."""
    from rq import Queue

    from app.queues import QUEUES, connection

    with app.app_context():
        conn = connection()
        for name in QUEUES:
            q = Queue(name, connection=conn)
            q.empty()
            for registry in (q.failed_job_registry, q.scheduled_job_registry, q.started_job_registry,
                             q.deferred_job_registry):
                conn.delete(registry.key)


def fail_jobs(app, n: int = 1, queue_name: str = "default", args: tuple = ()) -> list[str]:
    """`n` jobs that really fail, run by an RQ worker in this process; their ids."""
    from rq import SimpleWorker

    from app.queues import connection, queue

    with app.app_context():
        ids = [queue(queue_name).enqueue(fail_loudly, *args).id for _ in range(n)]
        SimpleWorker([queue(queue_name)], connection=connection()).work(burst=True)
    return ids
