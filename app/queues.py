"""The Redis connection and the RQ queues (named by concern)."""

import redis
from flask import Flask, current_app
from rq import Queue as RQQueue

from app import logs

QUEUES = ("default", "fulfilment", "issuance", "callbacks", "imports", "payments", "maintenance", "notifications",
          "documents")


class Queue(RQQueue):
    """An RQ queue whose every job carries the request id it was enqueued under (in its meta): the id of the web
    request, or, for a job enqueued by a job, the request id that job carries. The worker logs the job under it
    (app/cli/worker.py)."""

    def create_job(self, *args, **kwargs):
        rid = logs.request_id.get()
        if rid is not None:
            kwargs["meta"] = {"request_id": rid, **(kwargs.get("meta") or {})}
        return super().create_job(*args, **kwargs)


def init_app(app: Flask) -> None:
    # redis-py connects on first use, so commands that never queue anything run without a server.
    app.extensions["redis"] = redis.Redis.from_url(app.config["REDIS_URL"])


def limiter_storage_uri(app: Flask) -> str:
    url = app.config["REDIS_URL"]
    if url.startswith("unix://"):
        return "redis+unix://" + url[len("unix://"):]
    return url


def connection() -> redis.Redis:
    return current_app.extensions["redis"]


def queue(name: str = "default") -> Queue:
    return Queue(name, connection=connection())


def job_state(job_id: str, keys: tuple[str, ...]) -> tuple[dict, bool]:
    """What a progress widget reads of a job: the `keys` of its meta, and whether it is lost (gone, failed,
    stopped or cancelled: nothing will finish it)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        job = Job.fetch(job_id, connection=connection())
    except NoSuchJobError:
        return {}, True
    meta = job.get_meta(refresh=True)
    return {k: meta[k] for k in keys if k in meta}, job.get_status(refresh=False) in ("failed", "stopped", "canceled")
