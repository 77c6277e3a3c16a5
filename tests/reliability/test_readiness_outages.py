"""Proof for /readyz: it goes 503 when Redis stops, when PostgreSQL is unreachable and when no worker is alive,
and comes back by itself each time, in the same web app (never restarted).

Nothing shared is stopped: Redis is a server of the test's own (with an append-only file, as production's
persistent Redis, so a restart keeps the workers' registrations), PostgreSQL is reached through a TCP proxy
in a thread that the test closes and reopens, and the worker is a real `quanyi worker` process.
"""

import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from tests.support.processes import ROOT, PrivateRedis, free_port, worker_env

#: The worker heartbeats every WORKER_TTL - 15 seconds while idle; readiness counts it for HEARTBEAT seconds.
WORKER_TTL, HEARTBEAT = 18, 8


class TcpProxy:
    """127.0.0.1:<port> → target, in a thread; close() refuses new connections and cuts the open ones."""

    def __init__(self, target: tuple[str, int]):
        self.target, self.port = target, free_port()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()

    def open(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(32)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self):
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)


def _wait_for(client, expect: int, failing: set[str] = frozenset(), timeout: float = 60) -> dict:
    """Poll /readyz until it answers `expect` with exactly the checks `failing` failing."""
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        resp = client.get("/readyz")
        body = resp.json
        if resp.status_code == expect and {c["name"] for c in body["checks"] if not c["ok"]} == set(failing):
            return body
        time.sleep(0.25)
    raise AssertionError(f"/readyz never answered {expect} with {sorted(failing) or 'nothing'} failing: {body}")


def _start_worker(app, redis_url: str) -> subprocess.Popen:
    env = worker_env(app) | {"REDIS_URL": redis_url, "WORKER_TTL": str(WORKER_TTL)}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--no-cron"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.slow
@pytest.mark.committed
@pytest.mark.timeout(600)
def test_readiness_follows_outages_and_recovers_by_itself(app):
    from sqlalchemy.engine import make_url

    from app import create_app

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    postgres = url.get_backend_name() == "postgresql"
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432)) if postgres else None
    workdir = tempfile.mkdtemp(prefix="quanyi-readyz-")
    own_redis = PrivateRedis(workdir)
    worker = None
    if proxy:
        proxy.open()

    from app.config import TestConfig

    class ReadyzConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = (url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
                                   if proxy else app.config["SQLALCHEMY_DATABASE_URI"])
        REDIS_URL = own_redis.url
        RATELIMIT_STORAGE_URI = app.config["RATELIMIT_STORAGE_URI"]  # the one Limiter keeps the session's store
        HEALTH_CHECK_TIMEOUT = 1.0
        HEALTH_WORKER_HEARTBEAT_SECONDS = HEARTBEAT

    web = create_app(ReadyzConfig)
    client = web.test_client()
    try:
        _wait_for(client, 503, {"workers"})  # everything up but no worker yet

        worker = _start_worker(app, own_redis.url)
        _wait_for(client, 200)

        own_redis.stop()
        _wait_for(client, 503, {"redis", "workers"})
        own_redis.start()
        _wait_for(client, 200)  # the same worker, heartbeating again into the restarted Redis

        if proxy:
            proxy.close()
            _wait_for(client, 503, {"database", "migrations", "vault"})
            proxy.open()
            _wait_for(client, 200)

        worker.send_signal(signal.SIGKILL)  # no goodbye: its registration stays until the heartbeat is too old
        worker.wait(10)
        worker = None
        _wait_for(client, 503, {"workers"})

        worker = _start_worker(app, own_redis.url)
        _wait_for(client, 200)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        if proxy and proxy._listener is not None:
            proxy.close()
        own_redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        with web.app_context():
            from app.extensions import db

            db.engine.dispose()
            web.extensions["health_probe"].engine.dispose()
