"""The Redis connection and the RQ queues (named by concern)."""

import redis
from flask import Flask, current_app
from rq import Queue

QUEUES = ("default", "fulfilment", "issuance", "callbacks", "imports", "payments", "maintenance", "notifications",
          "documents")


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
