"""RQ job functions: thin, take primitive ids, push an app context and call one service."""

import contextlib
import logging

from rq import get_current_job

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


class JobLog(logging.LoggerAdapter):
    """Prefix every job log line with the job id."""

    def process(self, msg, kwargs):
        job = get_current_job()
        return f"[job {job.id if job else '-'}] {msg}", kwargs


def job_logger(name: str) -> JobLog:
    return JobLog(logging.getLogger(name), {})
