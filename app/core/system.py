"""What the ops system page shows of RQ and does to it: the workers alive, the depth of each queue, the
failed jobs (a page at a time, with the end of their error; never their arguments, which may hold codes or
personal data), the jobs scheduled for later, and the periodic jobs with their last runs. Requeueing and
deleting a failed job are audited."""

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask_babel import gettext as _
from rq import Queue, Worker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from app.core import periodic_runs
from app.core.audit import audit
from app.core.errors import NotFound
from app.extensions import db
from app.queues import QUEUES, connection

#: Failed jobs on one page.
PER_PAGE = 20
#: At most this many scheduled jobs are listed (the count says how many there are).
SCHEDULED_SHOWN = 50
#: The error's last lines shown for a failed job.
ERROR_LINES = 3
#: RQ job ids are short (a UUID's hex); anything longer is not one.
JOB_ID_MAX = 100


@dataclass
class FailedPage:
    """A numbered page of failed jobs, with the face the pager macro reads."""
    items: list
    page: int
    per_page: int
    total: int
    keyset: bool = field(default=False, init=False)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def workers() -> list[dict]:
    conn = connection()
    rows = []
    for w in sorted(Worker.all(connection=conn), key=lambda w: w.name):
        job_id = w.get_current_job_id()
        job = Job.fetch(job_id, connection=conn) if job_id and Job.exists(job_id, connection=conn) else None
        rows.append({"name": w.name, "host": w.hostname, "pid": w.pid, "queues": w.queue_names(),
                     "state": w.get_state(), "job_id": job_id, "job_function": job.func_name if job else None,
                     "last_heartbeat": w.last_heartbeat})
    return rows


def queues() -> list[dict]:
    conn = connection()
    rows = []
    for name in QUEUES:
        q = Queue(name, connection=conn)
        rows.append({"name": name, "queued": q.count, "scheduled": q.scheduled_job_registry.count,
                     "deferred": q.deferred_job_registry.count, "started": q.started_job_registry.count,
                     "failed": q.failed_job_registry.count})
    return rows


def _traceback_end(exc_string: str | None) -> tuple[list[str], list[str]]:
    """A traceback's last frame and the lines of its exception, without the statement's bound parameters a
    database error carries (they may hold codes or personal data)."""
    lines = [line for line in (exc_string or "").splitlines() if line.strip()]
    frames = [i for i, line in enumerate(lines) if line.lstrip().startswith('File "')]
    where = [lines[frames[-1]].strip()] if frames else []
    # the exception starts at the first unindented line after the last frame (its source line is indented)
    rest = lines[frames[-1] + 1:] if frames else lines
    start = next((i for i, line in enumerate(rest) if not line.startswith(" ")), len(rest))
    said = [line for line in rest[start:] if not line.startswith(("[parameters:", "(Background on this error"))]
    return where, said


def error_tail(exc_string: str | None) -> str:
    """Where a job failed and with what: the last frame and the exception's first lines."""
    where, said = _traceback_end(exc_string)
    return "\n".join(where + said[:ERROR_LINES - 1])


def exception_line(exc_string: str | None) -> str:
    """The exception a job failed with, on one line ('RuntimeError: ...')."""
    return next(iter(_traceback_end(exc_string)[1]), "")


def _failed_row(job: Job, queue_name: str) -> dict:
    result = job.latest_result()
    return {"id": job.id, "function": job.func_name, "queue": queue_name, "failed_at": job.ended_at,
            "error": error_tail(result.exc_string if result else None)}


def failed_jobs(page: int = 1, queue_name: str | None = None, per_page: int = PER_PAGE) -> FailedPage:
    """Failed jobs of every queue (or one), the latest first: each registry is a sorted set, so a page reads
    only the first `page * per_page` ids of each and fetches the jobs of that page alone."""
    conn = connection()
    names = [queue_name] if queue_name in QUEUES else list(QUEUES)
    registries = [FailedJobRegistry(name, connection=conn) for name in names]
    for r in registries:
        r.cleanup()
    total = sum(conn.zcard(r.key) for r in registries)
    page = max(1, min(page, max(1, math.ceil(total / per_page))))
    end = page * per_page
    entries = []
    for name, r in zip(names, registries, strict=True):
        entries += [(score, job_id.decode(), name)
                    for job_id, score in conn.zrange(r.key, 0, end - 1, desc=True, withscores=True)]
    entries.sort(reverse=True)
    chosen = entries[end - per_page:end]
    jobs = Job.fetch_many([job_id for _score, job_id, _name in chosen], connection=conn)
    items = [_failed_row(job, name) for job, (_score, _id, name) in zip(jobs, chosen, strict=True) if job is not None]
    return FailedPage(items=items, page=page, per_page=per_page, total=total)


def _failed(job_id: str) -> tuple[Job, FailedJobRegistry]:
    """The failed job with this id and its registry; NotFound (and nothing changed) for any other id."""
    conn = connection()
    if job_id and len(job_id) <= JOB_ID_MAX:
        for name in QUEUES:
            registry = FailedJobRegistry(name, connection=conn)
            if job_id in registry:
                try:
                    return Job.fetch(job_id, connection=conn), registry
                except NoSuchJobError:
                    break
    raise NotFound(_("There is no failed job %(id)s: it may have been requeued or deleted already.",
                     id=job_id[:JOB_ID_MAX]))


def requeue_failed(actor_id: int, job_id: str) -> None:
    job, registry = _failed(job_id)
    try:
        registry.requeue(job)
    except InvalidJobOperation:  # requeued by someone else in between
        raise NotFound(_("There is no failed job %(id)s: it may have been requeued or deleted already.",
                         id=job_id)) from None
    audit(actor_id, "system.job_requeued", "rq_job", None, job_id=job_id, queue=registry.name,
          function=job.func_name)
    db.session.commit()


def delete_failed(actor_id: int, job_id: str) -> None:
    job, registry = _failed(job_id)
    registry.remove(job, delete_job=True)
    audit(actor_id, "system.job_deleted", "rq_job", None, job_id=job_id, queue=registry.name,
          function=job.func_name)
    db.session.commit()


def scheduled_jobs() -> tuple[list[dict], int]:
    """Jobs enqueued to run at (or in) a time, the soonest first, and how many there are in all."""
    conn = connection()
    entries, total = [], 0
    for name in QUEUES:
        r = ScheduledJobRegistry(name, connection=conn)
        total += conn.zcard(r.key)
        entries += [(score, job_id.decode(), name)
                    for job_id, score in conn.zrange(r.key, 0, SCHEDULED_SHOWN - 1, withscores=True)]
    entries = sorted(entries)[:SCHEDULED_SHOWN]
    jobs = Job.fetch_many([job_id for _score, job_id, _name in entries], connection=conn)
    return [{"id": job.id, "function": job.func_name, "queue": name,
             "run_at": datetime.fromtimestamp(score, UTC)}
            for job, (score, _id, name) in zip(jobs, entries, strict=True) if job is not None], total


def function_name(func) -> str:
    """The name RQ gives a job of this function (Job.func_name)."""
    return f"{func.__module__}.{func.__name__}"


def periodic_jobs(periodic: list[tuple]) -> list[dict]:
    """Each periodic job (function, queue, interval in seconds) with its last run and, from its interval, when
    it is next expected (None before its first run: the scheduler runs it when it starts)."""
    names = [function_name(p[0]) for p in periodic]
    runs = periodic_runs.last_runs(connection(), names)
    rows = []
    for name, (_func, queue_name, interval) in zip(names, periodic, strict=True):
        run = runs[name]
        last_start = run and (run["running_since"] or run["started_at"])
        rows.append({"function": name, "queue": queue_name, "interval": interval, "run": run,
                     "next_at": last_start + timedelta(seconds=interval) if last_start else None})
    return rows
