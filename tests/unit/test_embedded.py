"""`quanyi up` from a shell with no settings: embedded Redis, web, worker, gateway, supplier and mail sandbox
start and stop together."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import psutil
import pytest

from tests.support.processes import free_port, wait_http

ROOT = Path(__file__).resolve().parents[2]
QUANYI = [sys.executable, "-c", "from app.cli import main; main()"]
#: Settings a developer's shell might carry; `quanyi up` must not need any of them.
SETTINGS = ("DATABASE_URL", "REDIS_URL", "PUBLIC_URL", "PAYGATE_URL", "PAYGATE_PUBLIC_URL", "PAYGATE_KEY",
            "SUPPLIER_SANDBOX_URL", "SUPPLIER_SANDBOX_KEY", "SECRET_KEY", "QUANYI_MASTER_KEY",
            "QUANYI_OLD_MASTER_KEYS", "FLASK_APP", "SMTP_HOST", "SMTP_PORT")


@pytest.fixture
def launcher(tmp_path):
    """Start `quanyi up` on a fresh instance/ and free ports."""
    instance = tmp_path / "i"
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env.update(QUANYI_INSTANCE=str(instance), PORT=str(free_port()), PAYGATE_PORT=str(free_port()),
               SUPPLIER_PORT=str(free_port()), MAILBOX_PORT=str(free_port()), MAILBOX_SMTP_PORT=str(free_port()),
               WEB_WORKERS="1", METRICS_TOKEN="up-metrics-token")
    done = subprocess.run([*QUANYI, "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    if done.returncode:
        pytest.fail(f"quanyi db upgrade failed with no settings in the environment:\n{done.stderr[-3000:]}")
    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*QUANYI, "up"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    web, gate = f"http://127.0.0.1:{env['PORT']}", f"http://127.0.0.1:{env['PAYGATE_PORT']}"
    supplier = f"http://127.0.0.1:{env['SUPPLIER_PORT']}"
    mailbox = SimpleNamespace(url=f"http://127.0.0.1:{env['MAILBOX_PORT']}", smtp_port=env["MAILBOX_SMTP_PORT"])
    try:
        yield SimpleNamespace(proc=proc, web=web, gate=gate, supplier=supplier, mailbox=mailbox, log=log,
                              instance=instance)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _wait_up(up) -> list[psutil.Process]:
    """Wait for the web, the gateway and the supplier to answer; returns the launcher's child processes."""
    try:
        wait_http(up.web + "/login", timeout=40)
        wait_http(up.gate + "/healthz", timeout=10)
        wait_http(up.supplier + "/healthz", timeout=10)
        wait_http(up.mailbox.url + "/healthz", timeout=10)
    except RuntimeError:
        up.proc.poll()
        pytest.fail(f"quanyi up did not come up (exit {up.proc.returncode}):\n{up.log.read_text()[-4000:]}")
    return psutil.Process(up.proc.pid).children(recursive=True)


def _scrape(web: str, until, timeout: float = 20) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    deadline = time.monotonic() + timeout
    while True:
        resp = httpx.get(web + "/metrics", headers={"Authorization": "Bearer up-metrics-token"}, timeout=10)
        assert resp.status_code == 200
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(resp.text) for s in family.samples}
        if until(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.5)  # the worker registers itself a moment after it starts


def test_up_empties_the_metrics_directory_at_start(tmp_path):
    from app.cli.embedded import metrics_dir

    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_123.db").write_bytes(b"left by the last run")
    assert metrics_dir(str(tmp_path)) == str(tmp_path / "metrics")
    assert os.listdir(tmp_path / "metrics") == []


@pytest.mark.slow
@pytest.mark.committed
def test_up_serves_everything_and_stops_cleanly_on_sigterm(launcher):
    up = launcher
    children = _wait_up(up)
    assert len(children) >= 4
    assert httpx.get(up.web + "/login").status_code == 200
    assert httpx.get(up.gate + "/healthz").text == "ok"
    assert httpx.get(up.supplier + "/healthz").text == "ok"
    deadline = time.time() + 10
    while "Quanyi is running at" not in up.log.read_text() and time.time() < deadline:
        time.sleep(0.2)
    banner = up.log.read_text()
    assert "quanyi demo seed" in banner  # not seeded yet: it says how, instead of the logins
    assert f"sandbox supplier         {up.supplier}" in banner
    assert f"mail sandbox             {up.mailbox.url}" in banner

    # The web and the worker reach the supplier, which calls back on the web server started here.
    for role in ("wsgi:app", "wsgi worker"):  # gunicorn, `quanyi worker`
        proc = next(p for p in children if role in " ".join(p.cmdline()))
        env = proc.environ()
        assert env["SUPPLIER_SANDBOX_URL"] == up.supplier, role
        assert env["PUBLIC_URL"] == up.web, role
        assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("127.0.0.1", up.mailbox.smtp_port), role
        assert env["PROMETHEUS_MULTIPROC_DIR"] == str(up.instance / "metrics"), role
    # Prometheus reads the web's requests and the worker listening on every queue, from one scrape.
    samples = _scrape(up.web, lambda s: s.get(("quanyi_workers", (("queue", "default"),)), 0) >= 1)
    assert samples[("quanyi_http_requests_total", (("endpoint", "auth.login"), ("method", "GET"),
                                                   ("status", "2xx")))] >= 1
    assert (up.instance / "redis.sock").exists() and (up.instance / "master.key").exists()

    up.proc.send_signal(signal.SIGTERM)
    assert up.proc.wait(30) == 0, up.log.read_text()[-4000:]
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, alive
    assert not (up.instance / "redis.sock").exists()
    with pytest.raises(httpx.HTTPError):
        httpx.get(up.web + "/login", timeout=2)


@pytest.mark.slow
@pytest.mark.committed
@pytest.mark.parametrize(("module", "name"), [("sandboxes.paygate", "payment gateway"),
                                              ("sandboxes.supplier", "supplier"),
                                              ("sandboxes.mailbox", "mail sandbox")])
def test_up_stops_everything_when_one_child_dies(launcher, module, name):
    up = launcher
    children = _wait_up(up)
    next(p for p in children if module in " ".join(p.cmdline())).kill()
    assert up.proc.wait(30) == 1
    assert f"{name} exited" in up.log.read_text()
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, alive
