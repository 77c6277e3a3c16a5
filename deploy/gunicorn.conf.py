"""Production settings for the web app under gunicorn (docs/performance.md, "Server settings", has the figures):

    gunicorn -c deploy/gunicorn.conf.py wsgi:app

Every setting can be moved by the environment: WEB_BIND, WEB_WORKERS, WEB_THREADS, WEB_TIMEOUT, WEB_ACCESS_LOG.
A request is CPU in Python (holding the GIL) plus waits on PostgreSQL and Redis: one process per core does the
CPU, a few threads per process fill the waits. More threads than that only queue on the GIL and add switching
CPU; more processes than cores add context switches. SQLALCHEMY_POOL_SIZE (app/config.py) should be at least
the threads of one process (each thread holds at most one connection at a time), and PostgreSQL's
max_connections must cover processes × pool size on every web machine plus the workers.
"""

import multiprocessing
import os

from app.logs import gunicorn_config

bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
#: One process per core.
workers = int(os.environ.get("WEB_WORKERS", multiprocessing.cpu_count()))
#: gthread: each process serves `threads` requests at once; keep-alive connections wait in the
#: process's poller, not in a thread.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 30
#: Reseller API clients keep their connection open between orders (no TCP and TLS setup per request).
keepalive = 15
#: A worker is replaced after this many requests (a slow leak cannot grow forever); the jitter keeps
#: the processes from restarting together.
max_requests = 20000
max_requests_jitter = 2000
#: No access log by default: each line costs CPU per request and the load balancer logs requests already.
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
#: Behind a load balancer: gunicorn trusts X-Forwarded-* only from these addresses.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
#: gunicorn's own lines (and the access log's) go through the app's log handler: LOG_FORMAT (plain or json) and its
#: masks (docs/operations.md, "Logs"). The access line names the request by id and leaves the query string out.
logconfig_dict = gunicorn_config(os.environ.get("LOG_FORMAT", "plain").strip().lower(),
                                 os.environ.get("LOG_LEVEL", "INFO").strip(), accesslog)
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'


def child_exit(server, worker):
    """With PROMETHEUS_MULTIPROC_DIR set (docs/operations.md, "Metrics"), a web process that exits stops counting
    in the live gauges; its counters and histograms stay, so totals never go backwards."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
