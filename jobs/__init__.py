"""RQ job functions: thin, take primitive ids, push an app context and call one service."""

import contextlib
import logging

from rq import get_current_job

_app = None


@contextlib.contextmanager
def app_context():
    global _app
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
