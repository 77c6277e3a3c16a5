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
