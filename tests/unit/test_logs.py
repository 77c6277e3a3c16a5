"""Structured logs (docs/operations.md, "Logs"): the request id from the header or generated, echoed, carried into
the jobs a request enqueues and logged by the worker with the job's own id; JSON lines; masking."""

import contextlib
import io
import json
import logging
import re

import pytest
import sqlalchemy as sa

from app import logs
from app.inventory.models import Code, ImportBatch

HEX32 = re.compile(r"[0-9a-f]{32}")


@contextlib.contextmanager
def captured(fmt: str = "json"):
    """What the root logger writes at INFO, through the handler production uses, as text."""
    stream = io.StringIO()
    handler = logs.handler(stream, fmt)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


# --- the request id ---------------------------------------------------------------------------------------------

def test_a_valid_incoming_request_id_is_kept_and_echoed(client):
    for rid in ("0f8fad5bd9cb469fa16570867728950e", "Root-1.abc:def_42", "a" * 128):
        assert client.get("/login", headers={"X-Request-ID": rid}).headers["X-Request-ID"] == rid


def test_without_a_header_a_new_id_is_generated_per_request(client):
    first = client.get("/login").headers["X-Request-ID"]
    second = client.get("/login").headers["X-Request-ID"]
    assert HEX32.fullmatch(first) and HEX32.fullmatch(second) and first != second


@pytest.mark.parametrize("bad", ["short", "a" * 129, "has space in it", "tab\tinside-0001", "<script>alert(1)</script>",
                                 "-leading-dash", "quote\"inside1", "中文请求编号很长很长的"])
def test_a_bad_incoming_request_id_is_replaced(client, bad):
    with captured() as out:
        resp = client.get("/login", headers={"X-Request-ID": bad})
        logging.getLogger("test.logs").info("after")
    echoed = resp.headers["X-Request-ID"]
    assert HEX32.fullmatch(echoed) and echoed != bad
    assert bad not in out.getvalue()


def test_the_request_id_is_on_every_line_logged_during_the_request_and_gone_after(app, client):
    from flask import request_finished

    def say(sender, response, **extra):  # runs inside the request, after the view
        logging.getLogger("app.test").warning("inside the request")

    with captured() as out, request_finished.connected_to(say, app):
        resp = client.get("/login", headers={"X-Request-ID": "req-from-proxy-0001"})
        logging.getLogger("app.test").warning("outside")
    lines = {line["message"]: line for line in json_lines(out)}
    assert resp.headers["X-Request-ID"] == "req-from-proxy-0001"
    assert lines["inside the request"]["request_id"] == "req-from-proxy-0001"
    assert "request_id" not in lines["outside"] and logs.request_id.get() is None


# --- formats ----------------------------------------------------------------------------------------------------

def test_json_lines_parse_one_by_one_with_the_documented_fields():
    class Job:
        id, meta = "job-123", {"request_id": "req-abc-000001"}

    with captured("json") as out:
        logging.getLogger("app.x").info("plain %s", "text")
        with logs.job_context(Job()):
            logging.getLogger("jobs.x").warning("in a job\nwith a second line")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("app.x").exception("failed")
    first, in_job, failed = json_lines(out)
    assert first["message"] == "plain text" and first["level"] == "INFO" and first["logger"] == "app.x"
    assert "timestamp" in first and "request_id" not in first and "job_id" not in first
    assert (in_job["request_id"], in_job["job_id"], in_job["level"]) == ("req-abc-000001", "job-123", "WARNING")
    assert in_job["message"] == "in a job\nwith a second line"
    assert failed["level"] == "ERROR" and "RuntimeError: boom" in failed["exc_info"]
    assert logs.job_id.get() is None and logs.request_id.get() is None


def test_plain_lines_stay_human_readable_with_the_ids_when_there_are_some():
    class Job:
        id, meta = "job-9", {}

    with captured("plain") as out:
        logging.getLogger("app.x").info("hello")
        with logs.job_context(Job()):
            logging.getLogger("jobs.x").info("working")
    hello, working = out.getvalue().splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO app\.x: hello", hello)
    assert working.endswith("INFO jobs.x [job=job-9]: working")


def test_an_unknown_log_format_is_refused_by_name():
    with pytest.raises(ValueError, match="LOG_FORMAT must be one of plain, json, not 'xml'"):
        logs.configure("xml")


def test_the_mask_hides_known_shapes_and_leaves_ids_alone():
    line = ("GET /password/reset/AbC123-tok_en?x=1 HTTP/1.1 from Alice.B+tag@example.co.uk and 13812345678, "
            "+86 138 1234 5678, /activate/XyZ, /ops/codes?q=SECRET-CODE&page=2, Authorization: Bearer abcdefgh123 "
            "order Q20261207123456789 delivery-12-0123456789abcdef job 4f1c2e0a9b8d4c6e8f7a6b5c4d3e2f10")
    masked = logs.mask(line)
    for leaked in ("AbC123-tok_en", "Alice", "example.co.uk", "13812345678", "138 1234 5678", "XyZ", "SECRET-CODE",
                   "abcdefgh123"):
        assert leaked not in masked, leaked
    for kept in ("/password/reset/[token]", "[email]", "[phone]", "q=[masked]&page=[masked]", "Bearer [secret]",
                 "Q20261207123456789", "delivery-12-0123456789abcdef", "4f1c2e0a9b8d4c6e8f7a6b5c4d3e2f10"):
        assert kept in masked, kept
    assert logs.mask(masked) == masked


# --- into the jobs ----------------------------------------------------------------------------------------------

def test_the_request_id_flows_from_a_request_into_the_job_it_enqueues_and_its_log_lines(
        client, login_as, app, peek, make_sku):
    """A real upload enqueues a real import job; the worker's own class runs it in burst mode. Every line the job
    writes carries the request id and the job id; no imported code is logged."""
    from app.cli.worker import InProcessWorker
    from app.queues import queue

    login_as("ops")
    sku_id = make_sku()
    old_limit = app.config["IMPORT_SYNC_LIMIT"]
    app.config["IMPORT_SYNC_LIMIT"] = 10
    codes = [f"LOGCODE-{i:05d}" for i in range(30)]
    try:
        resp = client.post("/ops/imports/new", data={"sku_id": str(sku_id),
                                                     "file": (io.BytesIO(("code\n" + "\n".join(codes)).encode()),
                                                              "codes.csv")},
                           content_type="multipart/form-data", headers={"X-Request-ID": "edge-req-000042"})
    finally:
        app.config["IMPORT_SYNC_LIMIT"] = old_limit
    assert resp.status_code == 303 and resp.headers["X-Request-ID"] == "edge-req-000042"
    batch = peek.first(sa.select(ImportBatch).order_by(ImportBatch.id.desc()))

    with captured() as out, app.app_context():
        q = queue("imports")
        assert q.fetch_job(batch.job_id).meta["request_id"] == "edge-req-000042"
        InProcessWorker([q], connection=q.connection).work(burst=True)
    assert peek.count(Code, Code.sku_id == sku_id) == 30
    lines = json_lines(out)
    mine = [line for line in lines if line.get("job_id") == batch.job_id]
    assert any(line["logger"] == "jobs.imports" and f"import batch {batch.id}: done" in line["message"]
               for line in mine), lines
    assert any(line["logger"] == "rq.worker" for line in mine)  # RQ's own lines about the job too
    assert all(line["request_id"] == "edge-req-000042" for line in mine)
    assert not any(code in out.getvalue() for code in codes)
    assert logs.job_id.get() is None and logs.request_id.get() is None


def test_a_job_enqueued_by_a_job_carries_the_same_request_id_and_none_without_one(ctx):
    from app.queues import queue

    class Parent:
        id, meta = "parent-job", {"request_id": "req-parent-0001"}

    q = queue("maintenance")
    with logs.job_context(Parent()):
        child = q.enqueue("jobs.maintenance.expire_orders")
        explicit = q.enqueue("jobs.maintenance.expire_orders", meta={"phase": "x"})
    orphan = q.enqueue("jobs.maintenance.expire_orders")
    try:
        assert child.meta == {"request_id": "req-parent-0001"}
        assert explicit.meta == {"request_id": "req-parent-0001", "phase": "x"}
        assert "request_id" not in orphan.meta
    finally:
        for job in (child, explicit, orphan):
            job.delete()


# --- the e2e log check ------------------------------------------------------------------------------------------

def test_the_e2e_log_check_names_what_leaked_and_not_what_was_masked(tmp_path):
    from tests.support.logcheck import Watch, leaks

    watch = Watch()
    for value, what in (("CODE-4F1C2E0A9B8D", "a card code"), ("secret-pass-1", "a password"),
                        ("buyer7@t.example", "a personal email"), ("13812345678", "a personal phone"),
                        ("123", "a card code"), ("123456", "a card code"), ("", "a password"), (b"\xff\xfe", "x")):
        watch.add(value, what)
    assert set(watch.values) == {"CODE-4F1C2E0A9B8D", "secret-pass-1", "buyer7@t.example", "13812345678"}

    path = tmp_path / "log.jsonl"
    with captured() as out:
        log = logging.getLogger("app.leaky")
        log.info("delivered CODE-4F1C2E0A9B8D to order 123456 at 12:00:00.123456")  # a code, not short numbers
        log.info("signed in with secret-pass-1")
        log.info("masked: buyer7@t.example, 13812345678, CODE-4F1C****9B8D, 138****5678")
        log.info("longer words: XCODE-4F1C2E0A9B8DX secret-pass-10")
        try:
            raise ValueError("bad secret-pass-1")
        except ValueError:
            log.exception("failed")
    path.write_text(out.getvalue() + "not json\n", encoding="utf-8")
    found = leaks(path, watch.values)
    assert found == ["a line that is not JSON: line 6", "a card code in line 1 (app.leaky)",
                     "a password in line 2 (app.leaky)"]
    assert "secret-pass-1" not in "".join(found)


@pytest.mark.committed
def test_the_e2e_watch_collects_passwords_emails_codes_and_secrets(app, make_user, make_sku, stock):
    from app.core import vault
    from tests.support.logcheck import Watch

    before = vault.Sealer.seal
    watch = Watch()
    watch.install(app)
    try:
        with app.app_context():
            make_user("consumer", email="watched-buyer@t.example", password="watched-pass-77")
            codes = stock(make_sku(), 2)
    finally:
        watch.uninstall()
    values = watch.values
    assert values["watched-pass-77"] == "a password"
    assert values["watched-buyer@t.example"] == "a personal email"
    assert all(values[code] == "a card code" for code in codes)
    assert values[app.config["SECRET_KEY"]] == "SECRET_KEY"
    assert values[app.config["QUANYI_MASTER_KEY"].split(":", 1)[1]] == "QUANYI_MASTER_KEY"
    assert vault.Sealer.seal is before  # undone


@pytest.mark.slow
def test_gunicorn_with_the_deploy_config_writes_its_access_lines_as_json_with_the_request_id(app):
    """deploy/gunicorn.conf.py routes gunicorn's own lines through the app's handler: JSON with LOG_FORMAT=json,
    the access line naming the request id and leaving the query string out."""
    import subprocess
    import sys

    import httpx

    from tests.support.processes import ROOT, free_port, wait_http, worker_env

    port = free_port()
    env = worker_env(app) | {"LOG_FORMAT": "json", "WEB_ACCESS_LOG": "-", "WEB_WORKERS": "1",
                             "WEB_BIND": f"127.0.0.1:{port}"}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/login")
        resp = httpx.get(f"http://127.0.0.1:{port}/login?email=buyer9@t.example",
                         headers={"X-Request-ID": "lb-req-00000077"})
        assert resp.headers["X-Request-ID"] == "lb-req-00000077"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]  # every line is JSON
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    assert any('"GET /login HTTP/1.1" 200' in line["message"] and "request_id=lb-req-00000077" in line["message"]
               for line in access), access
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    assert "buyer9" not in out


@pytest.mark.slow
@pytest.mark.committed
@pytest.mark.parametrize("flags", [[], ["--no-fork"]])
def test_the_worker_process_logs_each_job_under_its_id_and_request_id(app, make_user, make_sku, stock, flags):
    """`quanyi worker --burst` (forking a work-horse, or not) with LOG_FORMAT=json: the job's own line and RQ's
    lines about it carry the job id and the request id it was enqueued under."""
    from datetime import timedelta

    from app.accounts.models import User
    from app.core.ids import utcnow
    from app.extensions import db
    from app.orders import services as orders
    from app.orders.models import Order
    from app.queues import queue
    from tests.support.jobs import run_burst_worker

    with app.app_context():
        sku_id = make_sku()
        stock(sku_id, 1)
        order = orders.create_retail_order(db.session.get(User, make_user("consumer")), sku_id, 1)
        db.session.execute(sa.update(Order).where(Order.id == order.id)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        q = queue("maintenance")
        q.empty()
        token = logs.request_id.set("web-req-00000099")
        try:
            job = q.enqueue("jobs.maintenance.expire_orders")
        finally:
            logs.request_id.reset(token)
    proc = run_burst_worker(app, *flags, LOG_FORMAT="json")
    lines = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]  # every line is JSON
    mine = [line for line in lines if line.get("job_id") == job.id]
    assert any(line["logger"] == "jobs.maintenance" and line["message"] == "expired 1 unpaid orders"
               for line in mine), lines
    assert any(line["logger"] == "rq.worker" and "Successfully completed" in line["message"] for line in mine)
    assert all(line["request_id"] == "web-req-00000099" for line in mine)
    quitting = [line for line in lines if "done, quitting" in line["message"]]  # after the job: cleared
    assert quitting and not any(line.get("job_id") or line.get("request_id") for line in quitting)
