import logging
import multiprocessing

import click
from flask import current_app
from flask.cli import with_appcontext
from rq import Queue, SimpleWorker, Worker

from app import logs
from app.queues import QUEUES, connection


def _run_cron(redis_url: str, log_format: str = "plain", log_level: str = "INFO") -> None:
    """The periodic jobs of jobs/schedule.py, enqueued by RQ's CronScheduler in a child process. Losing Redis
    (a restart, a failover) does not end it: it starts again once Redis answers."""
    import time

    import redis
    from rq.cron import CronScheduler

    from jobs.schedule import PERIODIC

    logs.configure(log_format, log_level)
    log = logging.getLogger("quanyi.cron")
    while True:
        try:
            scheduler = CronScheduler(connection=redis.Redis.from_url(redis_url))
            for func, queue_name, interval in PERIODIC:
                scheduler.register(func, queue_name=queue_name, interval=interval)
            scheduler.start()
            return  # stopped on request
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
            log.warning("cron scheduler lost Redis (%s); starting again in 2 s", e)
            time.sleep(2)


class _JobLogContext:
    """Every line logged while a job runs (by the job, and by RQ about it) carries the job's id and the request id
    it was enqueued under (app/logs.py); cleared after. A forked work-horse inherits the context."""

    def execute_job(self, job, queue):
        with logs.job_context(job):
            return super().execute_job(job, queue)


class ForkingWorker(_JobLogContext, Worker):
    """RQ's Worker: a work-horse process per job."""


class InProcessWorker(_JobLogContext, SimpleWorker):
    """SimpleWorker that hands every job a fresh database session, as a forked work-horse would get."""

    def perform_job(self, *args, **kwargs):
        from app.extensions import db

        try:
            return super().perform_job(*args, **kwargs)
        finally:
            db.session.remove()


def _warm_up() -> None:
    """Import what jobs use, and configure the ORM's mappers, before RQ forks a work-horse per job, so no job
    pays for either again (SQLAlchemy configures the mappers on first use, in each work-horse otherwise)."""
    import importlib

    import sqlalchemy as sa

    for name in ("app.fulfilment.engine", "app.fulfilment.exception_queue", "app.suppliers.replenish",
                 "app.payments.services", "app.payments.refunds", "app.inventory.imports",
                 "app.notifications.mail", "app.fulfilment.reminders", "app.orders.services", "jobs.schedule"):
        importlib.import_module(name)
    sa.orm.configure_mappers()


@click.command("worker", help="Start an RQ worker (with scheduler and the periodic jobs) on all queues.")
@click.option("--burst", is_flag=True, help="Work until the queues are empty, then exit.")
@click.option("--no-cron", is_flag=True, help="Do not run the periodic-job scheduler in this worker.")
@click.option("--no-fork", is_flag=True,
              help="Run jobs in the worker process itself (RQ's SimpleWorker): about 3x the delivery throughput "
                   "(bench/fulfilment.py), without the per-job process isolation of the default.")
@with_appcontext
def worker(burst: bool, no_cron: bool, no_fork: bool):
    conn = connection()
    _warm_up()
    cron = None
    if not burst and not no_cron:
        cron = multiprocessing.get_context("spawn").Process(
            target=_run_cron, daemon=True,
            args=(current_app.config["REDIS_URL"], current_app.config["LOG_FORMAT"], current_app.config["LOG_LEVEL"]))
        cron.start()
    try:
        queues = [Queue(name, connection=conn) for name in QUEUES]
        worker_class = InProcessWorker if no_fork else ForkingWorker
        worker_class(queues, connection=conn).work(with_scheduler=True, burst=burst)
    finally:
        if cron is not None:
            cron.terminate()
