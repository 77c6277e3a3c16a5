"""RQ job functions: thin, take primitive ids, push an app context and call one service."""

import contextlib
import logging

_app = None


@contextlib.contextmanager
def app_context():
    """The worker's app context; a job run inline (tests, RQ_SYNC) reuses the caller's."""
    global _app
    from flask import current_app, has_app_context

    if has_app_context():
        yield current_app
        return
    if _app is None:
        from app import create_app

        _app = create_app()
    with _app.app_context():
        yield _app


def job_logger(name: str) -> logging.Logger:
    """A job's logger. The worker runs each job under its id and its request id, which every record carries
    (app/logs.py), so the lines need no prefix."""
    return logging.getLogger(name)
