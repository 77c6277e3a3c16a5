"""The shape of docs/deploy.md on one machine: two gunicorn web processes on two ports, two workers on separate
queue sets and one cron scheduler, all against PostgreSQL and Redis, through a consumer's order (bought on web A,
paid, the gateway's notice received by web B, the card bought from the supplier by the fulfilment worker, the
code shown by web B) and a reseller's API order (placed on web A, issued by the fulfilment worker, its callback sent by the other worker,
the codes read from web B)."""

import contextlib
import json
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from rq import Queue, Worker
from rq.cron import CronScheduler
from rq.job import Job
from rq.registry import FinishedJobRegistry

from app.channels import signing
from app.extensions import db
from app.fulfilment.models import Entitlement
from app.orders.models import Order
from app.queues import QUEUES
from bench.buyers import CSRF, PAY_FORM, STATUS
from tests.support.callbacks import Receiver
from tests.support.processes import ROOT, free_port, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.committed, pytest.mark.pg]

DELIVERY_QUEUES = ("fulfilment", "issuance")
OTHER_QUEUES = tuple(q for q in QUEUES if q not in DELIVERY_QUEUES)
DEADLINE = 90  # seconds any one step may take on a loaded 2-core machine; a deadline, never a wait


def until(what: str, check, timeout: float = DEADLINE, procs: dict | None = None):
    """Poll `check()` until it returns something truthy; fail with `what` (and any process that died)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for name, (proc, log) in (procs or {}).items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode} while waiting for {what}:\n{tail(log)}")
        got = check()
        if got:
            return got
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def tail(log: Path, n: int = 3000) -> str:
    return log.read_text(errors="replace")[-n:] if log.exists() else ""


class Shape:
    """The processes of the deployment: started in order, all stopped (and their logs kept) at the end."""

    def __init__(self, tmp: Path, env: dict):
        self.tmp, self.env = tmp, env
        self.procs: dict[str, tuple[subprocess.Popen, Path]] = {}

    def start(self, name: str, argv: list[str], **env: str) -> None:
        log = self.tmp / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, env=self.env | env, stdout=out, stderr=subprocess.STDOUT)
        self.procs[name] = (proc, log)

    def web(self, name: str, port: int) -> str:
        self.start(name, [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
                   WEB_BIND=f"127.0.0.1:{port}", WEB_WORKERS="1", WEB_THREADS="4",
                   WEB_ACCESS_LOG=str(self.tmp / f"{name}.access.log"))
        return f"http://127.0.0.1:{port}"

    def quanyi(self, name: str, *args: str) -> None:
        self.start(name, [sys.executable, "-m", "flask", "--app", "wsgi", *args])

    def stop(self) -> None:
        for proc, _ in self.procs.values():
            proc.terminate()
        for proc, _ in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def access_log(self, name: str) -> str:
        path = self.tmp / f"{name}.access.log"
        return path.read_text() if path.exists() else ""


def web_up(url: str) -> bool:
    try:
        return httpx.get(url + "/login", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def api_call(base: str, method: str, path: str, key: str, secret: str, body: dict | None = None) -> httpx.Response:
    """A signed reseller API request (docs/reseller-api.md) over HTTP."""
    raw = json.dumps(body).encode() if body is not None else b""
    headers = signing.headers(key, secret, method, path, "", raw, int(time.time()), secrets.token_hex(12))
    if raw:
        headers["Content-Type"] = "application/json"
    return httpx.request(method, base + path, content=raw, headers=headers, timeout=30)


def csrf(resp: httpx.Response) -> str:
    m = CSRF.search(resp.text)
    assert m, f"no csrf_token on {resp.url} (HTTP {resp.status_code})"
    return m.group(1)


def done_by(conn, queue_name: str) -> dict[str, set[str]]:
    """Finished jobs of a queue: job function -> the names of the workers that performed one."""
    ids = FinishedJobRegistry(queue_name, connection=conn).get_job_ids()
    done: dict[str, set[str]] = {}
    for job in Job.fetch_many(ids, connection=conn):
        if job is not None:
            done.setdefault(job.func_name, set()).add(job.worker_name)
    return done


def test_two_web_processes_and_workers_per_queue_set_deliver_a_full_order_flow(
        app, runner, paygate, supplier_sandbox, make_user, make_sku, make_supplier, map_sku, stock, tmp_path):
    with app.app_context():
        if db.engine.dialect.name != "postgresql" or app.config["REDIS_URL"].startswith("unix://"):
            pytest.skip("the multi-process shape is proved on PostgreSQL and a Redis server (DATABASE_URL, "
                        "REDIS_URL)")
        conn = app.extensions["redis"]
        conn.flushdb()  # this run's Redis db: no workers, jobs or schedulers of earlier runs

    # The consumer's card is bought from the (sandbox) supplier when paid: a job on `fulfilment`. The reseller's
    # codes come from stock.
    card_sku = make_sku(price="28.00", source="supplier")
    map_sku(card_sku, make_supplier(), "card-deploy-1m")
    sku_id = make_sku(price="28.00")
    codes = set(stock(sku_id, 3))
    consumer_email = f"buyer-{secrets.token_hex(3)}@t.example"
    make_user("consumer", email=consumer_email, password="secret-pass-1")
    # A reseller made the documented way (docs/ops-cli.md): a tier, then the reseller with its API key.
    assert runner.invoke(args=["tiers", "create", "--name", "deploy-tier", "--discount-percent", "10"]).exit_code == 0
    created = runner.invoke(args=["resellers", "create", "--name", "部署代理", "--tier", "deploy-tier",
                                  "--balance", "1000.00"])
    assert created.exit_code == 0, created.output
    reseller = json.loads(created.stdout)
    with app.app_context():
        from app.catalog.models import Sku

        sku_code = db.session.get(Sku, sku_id).sku

    port_a, port_b = free_port(), free_port()
    web_b_url = f"http://127.0.0.1:{port_b}"
    instance = tmp_path / "instance"  # the shared files (uploads): one mount for every machine
    env = worker_env(app) | {
        "QUANYI_INSTANCE": str(instance), "PAYGATE_URL": paygate, "PAYGATE_PUBLIC_URL": "",
        # What the payment gateway calls back and returns the payer to: the load balancer's address in
        # production; here web B, so the notice arrives at the other web process than the order.
        "PUBLIC_URL": web_b_url,
        "CALLBACK_ALLOW_PRIVATE": "1",  # the reseller's callback receiver listens on 127.0.0.1
        "ISSUANCE_THRESHOLD": "3",  # the reseller's 3-code order is issued in the background (queue issuance)
        "PYTHONPATH": str(ROOT),  # this checkout's code, whatever the virtualenv has installed
    }
    shape = Shape(tmp_path, env)
    receiver = Receiver()
    try:
        web_a = shape.web("web-a", port_a)
        web_b = shape.web("web-b", port_b)
        shape.quanyi("worker-delivery", "worker", "--queues", ",".join(DELIVERY_QUEUES), "--no-cron")
        shape.quanyi("worker-rest", "worker", "--queues", ",".join(OTHER_QUEUES), "--no-cron")
        shape.quanyi("cron", "cron")
        procs = shape.procs
        until("both web processes to answer", lambda: web_up(web_a) and web_up(web_b), procs=procs)

        def workers() -> dict[tuple[str, ...], str]:
            return {tuple(w.queue_names()): w.name for w in Worker.all(connection=conn)}

        names = until("both workers to register", lambda: len(workers()) == 2 and workers(), procs=procs)
        assert set(names) == {DELIVERY_QUEUES, OTHER_QUEUES}
        delivery_worker, other_worker = names[DELIVERY_QUEUES], names[OTHER_QUEUES]
        until("the cron scheduler to register", lambda: len(CronScheduler.all(conn)) == 1, procs=procs)

        # --- a consumer: orders on web A, pays on the gateway; the notice goes to web B ---------------------
        with httpx.Client(base_url=web_a, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as browser:
            page = browser.get("/login")
            resp = browser.post("/login", data={"csrf_token": csrf(page), "email": consumer_email,
                                                "password": "secret-pass-1"})
            assert resp.status_code == 303, resp.text[:500]
            token = csrf(browser.get(f"/me/shop/{card_sku}"))
            resp = browser.post(f"/me/shop/{card_sku}/buy", data={"csrf_token": token, "quantity": "1"})
            assert resp.status_code == 303
            order_no = re.fullmatch(r"/me/orders/([^/]+)/pay", httpx.URL(resp.headers["location"]).path).group(1)
            checkout = browser.get(resp.headers["location"], follow_redirects=True)
            assert checkout.status_code == 200 and str(checkout.url).startswith(paygate)
            action = PAY_FORM.search(checkout.text).group(1)
            back = browser.post(str(checkout.url.join(action)), follow_redirects=True)
            # The payer comes back through PUBLIC_URL (web B) to the order page: signed in there too.
            assert back.status_code == 200 and str(back.url) == f"{web_b}/me/orders/{order_no}"

            def order_status() -> str | None:
                page = browser.get(f"{web_b}/me/orders/{order_no}")
                assert page.status_code == 200
                status = STATUS.search(page.text).group(1)
                return status if status in ("delivered", "cancelled", "expired", "refunded") else None

            assert until("the consumer's order to be delivered", order_status, procs=procs) == "delivered"
            with app.app_context():
                ent_id = db.session.scalar(sa.select(Entitlement.id).join(Order, Order.id == Entitlement.order_id)
                                           .where(Order.order_no == order_no))
                db.session.remove()
            benefit = browser.get(f"{web_b}/me/benefits/{ent_id}")
            assert benefit.status_code == 200
            revealed = browser.post(f"{web_b}/me/benefits/{ent_id}/reveal", data={"csrf_token": csrf(benefit)})
            assert revealed.status_code == 200
            bought = [card["code"] for o in supplier_sandbox.orders() for card in o["cards"]]
            assert len(bought) == 1 and bought[0] in revealed.text, "web B shows the card the worker bought"

        assert "/payments/notify" in shape.access_log("web-b")
        assert "/payments/notify" not in shape.access_log("web-a")
        assert f"/me/shop/{card_sku}/buy" in shape.access_log("web-a")

        # --- a reseller: orders on web A through the API; issued in the background, called back, read on B ---
        key, secret = reseller["api_key"], reseller["api_secret"]
        placed = api_call(web_a, "POST", "/api/v1/orders", key, secret,
                          {"client_order_no": "DEPLOY-1", "sku": sku_code, "quantity": 3,
                           "notify_url": receiver.url + "/hook"})
        assert placed.status_code == 201, placed.text
        api_order = placed.json()["order_no"]

        def api_delivered():
            got = api_call(web_b, "GET", f"/api/v1/orders/{api_order}", key, secret)
            assert got.status_code == 200, got.text
            return got.json()["status"] == "delivered"

        until("the reseller's order to be issued", api_delivered, procs=procs)
        got = api_call(web_b, "GET", f"/api/v1/orders/{api_order}/codes", key, secret)
        assert got.status_code == 200
        api_codes = {item["code"] for item in got.json()["items"]}
        assert api_codes == codes
        callbacks = until("the order.delivered callback", lambda: [
            r for r in receiver.requests if json.loads(r["body"]).get("type") == "order.delivered"], procs=procs)
        assert json.loads(callbacks[0]["body"])["order"]["order_no"] == api_order

        # --- each job ran on the worker of its queue set ------------------------------------------------------
        # The flows' own jobs: the consumer's delivery, the reseller's issuance, its callback. A job is marked
        # finished a moment after what it did is visible (the callback arrives before the job returns).
        for queue_name, func, worker in (("fulfilment", "jobs.fulfilment.deliver", delivery_worker),
                                         ("issuance", "jobs.issuance.issue", delivery_worker),
                                         ("callbacks", "jobs.callbacks.send", other_worker)):
            ran = until(f"{func} to finish", lambda q=queue_name, f=func: done_by(conn, q).get(f), procs=procs)
            assert ran == {worker}, func
        # The periodic jobs the one scheduler enqueued ran too, each on the worker that listens on its queue.
        assert until("a periodic maintenance job to run", lambda: done_by(conn, "maintenance"), procs=procs)
        for name in QUEUES:
            ran = set().union(*done_by(conn, name).values())
            assert ran <= ({delivery_worker} if name in DELIVERY_QUEUES else {other_worker}), name
        assert Queue("fulfilment", connection=conn).failed_job_registry.count == 0
        assert Queue("issuance", connection=conn).failed_job_registry.count == 0
        assert Queue("callbacks", connection=conn).failed_job_registry.count == 0
    except BaseException:
        for name, (_, log) in shape.procs.items():
            print(f"--- {name} ---\n{tail(log)}")
        raise
    finally:
        with contextlib.suppress(Exception):
            receiver.close()
        shape.stop()
