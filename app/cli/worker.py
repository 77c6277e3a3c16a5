import logging
import multiprocessing
import time

import click
from flask import current_app
from flask.cli import with_appcontext
from rq import Queue, SimpleWorker, Worker

from app import logs
from app.core import periodic_runs
from app.core.system import exception_line
from app.queues import QUEUES, connection


def _run_cron(redis_url: str, log_format: str = "plain", log_level: str = "INFO") -> None:
    """The periodic jobs of jobs/schedule.py, enqueued by RQ's CronScheduler in a child process. Losing Redis
    (a restart, a failover) does not end it: it starts again once Redis answers."""
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


class RecordsPeriodicRuns:
    """Records each run of a periodic job (jobs/schedule.py) in Redis where the job runs: start, end, outcome,
    duration and its return value's summary (app/core/periodic_runs.py), for the ops system page. Other jobs
    pass through untouched."""

    _periodic_names: frozenset[str] | None = None

    def perform_job(self, job, queue, execution):
        if self._periodic_names is None:
            from app.core.system import function_name
            from jobs.schedule import PERIODIC

            type(self)._periodic_names = frozenset(function_name(f) for f, _, _ in PERIODIC)
        if job.func_name not in self._periodic_names:
            return super().perform_job(job, queue, execution)
        started = periodic_runs.now()
        periodic_runs.started(self.connection, job.func_name, job.id, started)
        ok = super().perform_job(job, queue, execution)
        result = job.latest_result()
        if ok:
            summary = periodic_runs.summarize(result.return_value if result else None)
        else:
            summary = exception_line(result.exc_string if result else None)[:periodic_runs.SUMMARY_MAX]
        periodic_runs.finished(self.connection, job.func_name, job.id, started, periodic_runs.now(), ok, summary)
        return ok


class _Metered:
    """Times each job and counts its result per queue (app/core/metrics.py). Measured in the long-lived worker
    process around the work-horse, not in the horse: a forked horse per job would leave a metrics file per job
    in PROMETHEUS_MULTIPROC_DIR."""

    def execute_job(self, job, queue):
        from app.core import metrics

        started = time.perf_counter()
        try:
            return super().execute_job(job, queue)
        finally:
            metrics.JOB_SECONDS.labels(queue.name).observe(time.perf_counter() - started)
            failed = job.get_status(refresh=True) in ("failed", "stopped")
            metrics.JOBS.labels(queue.name, "failed" if failed else "finished").inc()


class _JobLogContext:
    """Every line logged while a job runs (by the job, and by RQ about it) carries the job's id and the request id
    it was enqueued under (app/logs.py); cleared after. A forked work-horse inherits the context."""

    def execute_job(self, job, queue):
        with logs.job_context(job):
            return super().execute_job(job, queue)


class QuanyiWorker(_JobLogContext, RecordsPeriodicRuns, _Metered, Worker):
    """RQ's forking worker (a work-horse process per job): job log context, metered, recording the periodic
    jobs' runs."""


class InProcessWorker(_JobLogContext, RecordsPeriodicRuns, _Metered, SimpleWorker):
    """SimpleWorker that hands every job a fresh database session, as a forked work-horse would get."""

    def perform_job(self, *args, **kwargs):
        from app.extensions import db

        try:
            return super().perform_job(*args, **kwargs)
        finally:
            db.session.remove()


def _horses_share_metrics() -> None:
    """In multiprocess mode, the work-horses a worker forks (one at a time, one per job) write the metrics
    they move (deliveries, payment notices) into one file named after the worker, not one file per horse:
    the directory would otherwise grow by a file per job, and every scrape would read them all."""
    import os

    from prometheus_client import values

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    worker_pid = os.getpid()
    values.ValueClass = values.MultiProcessValue(
        lambda: worker_pid if os.getpid() == worker_pid else f"{worker_pid}-horse")


def _serve_metrics(host: str, port: int) -> None:
    """The worker's own metrics on a port of their own, served by a thread of the worker process (the
    work-horses it forks do not serve). With PROMETHEUS_MULTIPROC_DIR, every process writing into that directory
    is in the answer; without it, only this process (a forked horse's deliveries are lost with the horse)."""
    import os

    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, addr=host, registry=registry)
    logging.getLogger(__name__).info("worker metrics on http://%s:%s/metrics", host, port)


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


def _queue_names(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    """`--queues a,b`: names from app.queues.QUEUES, in the order given (RQ takes jobs from the first queue
    that has one); unset means every queue."""
    if value is None:
        return QUEUES
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in QUEUES]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown queue {', '.join(unknown)}; the queues are {', '.join(QUEUES)}" if unknown
            else f"name at least one queue of {', '.join(QUEUES)}", ctx=ctx, param=param)
    return tuple(dict.fromkeys(names))


@click.command("worker", help="Start an RQ worker (with scheduler and the periodic jobs) on all queues, or on "
                              "those of --queues. Run the periodic jobs in one worker per deployment: "
                              "--no-cron on every other.")
@click.option("--queues", "queue_names", callback=_queue_names, metavar="NAME[,NAME...]",
              help=f"Listen only on these queues (comma-separated, first has priority): {', '.join(QUEUES)}. "
                   "Default: all.")
@click.option("--burst", is_flag=True, help="Work until the queues are empty, then exit.")
@click.option("--no-cron", is_flag=True, help="Do not run the periodic-job scheduler in this worker.")
@click.option("--no-fork", is_flag=True,
              help="Run jobs in the worker process itself (RQ's SimpleWorker): about 3x the delivery throughput "
                   "(bench/fulfilment.py), without the per-job process isolation of the default.")
@click.option("--metrics-port", type=int, envvar="WORKER_METRICS_PORT",
              help="Also serve this worker's job and delivery metrics to Prometheus on this port (env "
                   "WORKER_METRICS_PORT), for a machine with no web process; docs/operations.md, \"Metrics\".")
@click.option("--metrics-host", envvar="WORKER_METRICS_HOST", default="127.0.0.1", show_default=True,
              help="The address --metrics-port listens on (env WORKER_METRICS_HOST).")
@with_appcontext
def worker(queue_names: tuple[str, ...], burst: bool, no_cron: bool, no_fork: bool, metrics_port: int | None,
           metrics_host: str):
    conn = connection()
    _warm_up()
    if metrics_port:
        _serve_metrics(metrics_host, metrics_port)
    cron = None
    if not burst and not no_cron:
        cron = multiprocessing.get_context("spawn").Process(
            target=_run_cron, daemon=True,
            args=(current_app.config["REDIS_URL"], current_app.config["LOG_FORMAT"], current_app.config["LOG_LEVEL"]))
        cron.start()
    try:
        queues = [Queue(name, connection=conn) for name in queue_names]
        worker_class = InProcessWorker if no_fork else QuanyiWorker
        _horses_share_metrics()
        worker_class(queues, connection=conn, worker_ttl=current_app.config["WORKER_TTL"]).work(
            with_scheduler=True, burst=burst)
    finally:
        if cron is not None:
            cron.terminate()


@click.command("cron", help="Run only the periodic-job scheduler (jobs/schedule.py), in the foreground: for a "
                            "deployment whose workers all run with --no-cron. Run exactly one per deployment; "
                            "two would enqueue every periodic job twice.")
@with_appcontext
def cron():
    _run_cron(current_app.config["REDIS_URL"])
